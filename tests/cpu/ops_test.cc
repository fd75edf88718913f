// The reference operators against small hand-computed cases and against a
// direct convolution on random shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_util.h"
#include "kernels/ref/ref_ops.h"
#include "runtime/model.h"

namespace {

std::vector<float> RunConv(const sqz_ref_conv_shape &s, const std::vector<float> &in,
                           const std::vector<float> &w, const std::vector<float> &b, int relu,
                           std::vector<float> out = {}, int accumulate = 0) {
  if (out.empty()) out.assign((size_t)s.out_c * s.out_h * s.out_w, 0.0f);
  std::vector<float> scratch(sqz_ref_conv2d_scratch(&s) + 1);
  sqz_ref_conv2d(&s, in.data(), w.data(), b.data(), relu, accumulate, out.data(), scratch.data());
  return out;
}

TEST(RefConv, HandComputed2x2KernelOn3x3) {
  // in = [1 2 3; 4 5 6; 7 8 9], kernel [1 0; 0 -1], bias 0.5
  // out(y,x) = in(y,x) - in(y+1,x+1) + 0.5 = -4 + 0.5 everywhere.
  sqz_ref_conv_shape s = {1, 3, 3, 1, 2, 2, 2, 1, 0};
  auto out = RunConv(s, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 0, 0, -1}, {0.5f}, 0);
  EXPECT_EQ(out, (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));
  // The same with ReLU clamps to zero.
  out = RunConv(s, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 0, 0, -1}, {0.5f}, 1);
  EXPECT_EQ(out, (std::vector<float>{0, 0, 0, 0}));
}

TEST(RefConv, HandComputedStrideAndPadding) {
  // 3x3 ones kernel, stride 2, pad 1 over a 4x4 ramp 0..15: each output is
  // the sum of the window inside the input.
  sqz_ref_conv_shape s = {1, 4, 4, 1, 2, 2, 3, 2, 1};
  std::vector<float> in(16);
  for (int i = 0; i < 16; i++) in[i] = (float)i;
  auto out = RunConv(s, in, std::vector<float>(9, 1.0f), {0.0f}, 0);
  // (0,0): rows 0-1, cols 0-1: 0+1+4+5 = 10
  // (0,1): rows 0-1, cols 1-3: 1+2+3+5+6+7 = 24
  // (1,0): rows 1-3, cols 0-1: 4+5+8+9+12+13 = 51
  // (1,1): rows 1-3, cols 1-3: 5+6+7+9+10+11+13+14+15 = 90
  EXPECT_EQ(out, (std::vector<float>{10, 24, 51, 90}));
}

TEST(RefConv, OneByOneWithPaddingGivesBiasBorder) {
  // The pretrained v1.0 conv10 case: 1x1, padding 1; the border sees only
  // padding, so it is ReLU(bias).
  sqz_ref_conv_shape s = {2, 2, 2, 2, 4, 4, 1, 1, 1};
  std::vector<float> in = {1, 2, 3, 4, 10, 20, 30, 40};
  auto out = RunConv(s, in, {1, 1, -1, 0}, {0.25f, -3.0f}, 1);
  EXPECT_FLOAT_EQ(out[0], 0.25f);              // channel 0 corner: bias
  EXPECT_FLOAT_EQ(out[16], 0.0f);              // channel 1 corner: ReLU(-3)
  EXPECT_FLOAT_EQ(out[1 * 4 + 1], 11.25f);     // 1 + 10 + 0.25
  EXPECT_FLOAT_EQ(out[16 + 2 * 4 + 2], 0.0f);  // -4 - 3 < 0
}

TEST(RefConv, AccumulateAddsBeforeActivation) {
  sqz_ref_conv_shape s = {1, 1, 2, 1, 1, 2, 1, 1, 0};
  auto out = RunConv(s, {1, -1}, {2}, {0}, 1, {-5, 5}, 1);
  EXPECT_EQ(out, (std::vector<float>{0, 3}));  // relu(-5+2), relu(5-2)
}

// A direct convolution with double accumulation.
std::vector<float> DirectConv(const sqz_ref_conv_shape &s, const std::vector<float> &in,
                              const std::vector<float> &w, const std::vector<float> &b) {
  std::vector<float> out((size_t)s.out_c * s.out_h * s.out_w);
  for (int o = 0; o < s.out_c; o++)
    for (int y = 0; y < s.out_h; y++)
      for (int x = 0; x < s.out_w; x++) {
        double acc = b[o];
        for (int i = 0; i < s.in_c; i++)
          for (int ky = 0; ky < s.kernel; ky++)
            for (int kx = 0; kx < s.kernel; kx++) {
              int iy = y * s.stride + ky - s.pad, ix = x * s.stride + kx - s.pad;
              if (iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w)
                acc += (double)w[((o * s.in_c + i) * s.kernel + ky) * s.kernel + kx] *
                       in[((size_t)i * s.in_h + iy) * s.in_w + ix];
            }
        out[((size_t)o * s.out_h + y) * s.out_w + x] = (float)acc;
      }
  return out;
}

struct ConvCase {
  int in_c, in_h, in_w, out_c, kernel, stride, pad;
};

class RefConvRandom : public ::testing::TestWithParam<ConvCase> {};

TEST_P(RefConvRandom, MatchesDirectConvolution) {
  const ConvCase c = GetParam();
  sqz_ref_conv_shape s = {c.in_c, c.in_h, c.in_w, c.out_c, 0, 0, c.kernel, c.stride, c.pad};
  s.out_h = sqz_conv_out_size(c.in_h, c.kernel, c.stride, c.pad);
  s.out_w = sqz_conv_out_size(c.in_w, c.kernel, c.stride, c.pad);
  auto in = sqz_test::RandomVector((size_t)c.in_c * c.in_h * c.in_w, 1);
  auto w = sqz_test::RandomVector((size_t)c.out_c * c.in_c * c.kernel * c.kernel, 2);
  auto b = sqz_test::RandomVector(c.out_c, 3);
  auto got = RunConv(s, in, w, b, 0);
  auto want = DirectConv(s, in, w, b);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++)
    ASSERT_NEAR(got[i], want[i], 1e-5f * (1 + std::fabs(want[i]))) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RefConvRandom,
    ::testing::Values(ConvCase{3, 17, 19, 5, 7, 2, 0},    // conv1 v1.0-like, odd sizes
                      ConvCase{3, 15, 15, 9, 3, 2, 0},    // conv1 v1.1-like
                      ConvCase{16, 13, 13, 17, 1, 1, 0},  // squeeze/expand 1x1, M not /8
                      ConvCase{6, 7, 9, 13, 3, 1, 1},     // expand 3x3
                      ConvCase{5, 1, 1, 3, 3, 1, 1},      // 1x1 spatial
                      ConvCase{4, 5, 5, 11, 1, 1, 1},     // 1x1 with padding
                      ConvCase{2, 9, 4, 3, 5, 3, 2}));    // non-square, stride 3

TEST(RefPool, OutputSizeUsesCeilMode) {
  EXPECT_EQ(sqz_pool_out_size(111, 3, 2, 0), 55);
  EXPECT_EQ(sqz_pool_out_size(55, 3, 2, 0), 27);
  EXPECT_EQ(sqz_pool_out_size(27, 3, 2, 0), 13);
  EXPECT_EQ(sqz_pool_out_size(113, 3, 2, 0), 56);  // v1.1 at 227: ceil
  EXPECT_EQ(sqz_pool_out_size(56, 3, 2, 0), 28);   // floor would give 27
  EXPECT_EQ(sqz_pool_out_size(28, 3, 2, 0), 14);
  EXPECT_EQ(sqz_pool_out_size(4, 3, 2, 1), 3);  // last window starts in the input
  EXPECT_EQ(sqz_pool_out_size(5, 2, 2, 1), 3);  // ...and (3-1)*2 = 4 < 5+1
  EXPECT_EQ(sqz_pool_out_size(2, 3, 2, 0), 0);  // window larger than the input
  EXPECT_EQ(sqz_conv_out_size(224, 7, 2, 0), 109);
  EXPECT_EQ(sqz_conv_out_size(227, 7, 2, 0), 111);
  EXPECT_EQ(sqz_conv_out_size(13, 1, 1, 1), 15);
}

TEST(RefPool, MaxPoolCeilModeHandComputed) {
  // 4x4 ramp, 3x3 stride 2 ceil mode: 2x2 outputs, the last windows clipped.
  std::vector<float> in(16);
  for (int i = 0; i < 16; i++)
    in[i] = (float)((i * 7) % 16);  // 0 7 14 5 12 3 10 1 8 15 6 13 4 11 2 9
  std::vector<float> out(4, -1.0f);
  sqz_ref_maxpool(in.data(), 1, 4, 4, 3, 2, 0, out.data(), 2, 2);
  // window rows 0-2 cols 0-2: {0,7,14,12,3,10,8,15,6} -> 15
  // rows 0-2 cols 2-3: {14,5,10,1,6,13} -> 14
  // rows 2-3 cols 0-2: {8,15,6,4,11,2} -> 15
  // rows 2-3 cols 2-3: {6,13,2,9} -> 13
  EXPECT_EQ(out, (std::vector<float>{15, 14, 15, 13}));
}

TEST(RefPool, MaxPoolNegativeValuesAndPadding) {
  // Padding never wins: it is -inf, not 0.
  std::vector<float> in = {-5, -2, -7, -1};
  std::vector<float> out(9);
  sqz_ref_maxpool(in.data(), 1, 2, 2, 2, 1, 1, out.data(), 3, 3);
  EXPECT_EQ(out[0], -5.0f);
  EXPECT_EQ(out[4], -1.0f);  // centre window sees all four
}

TEST(RefOps, GlobalAveragePool) {
  std::vector<float> in = {1, 2, 3, 4, 10, 20, 30, 40};
  std::vector<float> out(2);
  sqz_ref_global_avgpool(in.data(), 2, 2, 2, out.data());
  EXPECT_FLOAT_EQ(out[0], 2.5f);
  EXPECT_FLOAT_EQ(out[1], 25.0f);
}

TEST(RefOps, ReluAndAdd) {
  std::vector<float> x = {-1, 0, 2.5f, -0.0f};
  sqz_ref_relu(x.data(), x.size());
  EXPECT_EQ(x, (std::vector<float>{0, 0, 2.5f, 0}));
  std::vector<float> y = {1, 2, 3, 4};
  sqz_ref_add(x.data(), y.data(), 4);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 5.5f, 4}));
}

TEST(RefOps, SoftmaxKnownValuesAndStability) {
  std::vector<float> in = {0.0f, std::log(3.0f)};
  std::vector<float> out(2);
  sqz_ref_softmax(in.data(), 2, out.data());
  EXPECT_NEAR(out[0], 0.25f, 1e-7f);
  EXPECT_NEAR(out[1], 0.75f, 1e-7f);
  // Large logits must not overflow.
  std::vector<float> big = {1000.0f, 1000.0f, -1000.0f};
  sqz_ref_softmax(big.data(), 3, big.data());  // in place
  EXPECT_NEAR(big[0], 0.5f, 1e-7f);
  EXPECT_NEAR(big[1], 0.5f, 1e-7f);
  EXPECT_EQ(big[2], 0.0f);
}

TEST(TopK, OrderTiesAndNaN) {
  std::vector<float> s = {0.1f, 0.5f, NAN, 0.5f, 0.9f, -1.0f};
  int idx[4];
  float val[4];
  ASSERT_EQ(sqz_top_k(s.data(), 6, 4, idx, val), SQZ_OK);
  EXPECT_EQ(idx[0], 4);
  EXPECT_EQ(idx[1], 1);  // tie: lower index first
  EXPECT_EQ(idx[2], 3);
  EXPECT_EQ(idx[3], 0);
  EXPECT_FLOAT_EQ(val[0], 0.9f);
  EXPECT_EQ(sqz_top_k(s.data(), 6, 7, idx, val), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sqz_top_k(nullptr, 6, 1, idx, val), SQZ_ERR_INVALID_ARGUMENT);
  // Large k uses the caller's arrays.
  std::vector<float> many(100);
  for (int i = 0; i < 100; i++) many[i] = (float)((i * 37) % 100);
  std::vector<int> bi(100);
  std::vector<float> bv(100);
  ASSERT_EQ(sqz_top_k(many.data(), 100, 100, bi.data(), bv.data()), SQZ_OK);
  for (int i = 0; i < 100; i++) EXPECT_EQ(bv[i], 99.0f - i);
}

}  // namespace
