// The fused kernels one by one against the CPU reference: small networks
// around a single Fire module (with and without a folded max pool, every
// bypass) at odd spatial sizes and batches 1..256, and metaparameter models.
// Skips with the reason without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "gpu/gpu_util.h"
#include "kernels/cuda/fused_kernels.h"
#include "kernels/cuda/fused_plan.h"
#include "runtime/weight_pack.h"
#include "sqz.h"

namespace {

sqz_layer_info Conv(const char *name, int out, int k, int s, int p) {
  sqz_layer_info l = {};
  l.name = name;
  l.kind = SQZ_LAYER_CONV;
  l.out_channels = out;
  l.kernel = k;
  l.stride = s;
  l.pad = p;
  l.relu = 1;
  return l;
}

sqz_layer_info Fire(const char *name, int s, int e1, int e3, sqz_bypass b) {
  sqz_layer_info l = {};
  l.name = name;
  l.kind = SQZ_LAYER_FIRE;
  l.squeeze = s;
  l.expand1x1 = e1;
  l.expand3x3 = e3;
  l.bypass = b;
  return l;
}

sqz_layer_info Pool(const char *name) {
  sqz_layer_info l = {};
  l.name = name;
  l.kind = SQZ_LAYER_MAXPOOL;
  l.kernel = 3;
  l.stride = 2;
  return l;
}

sqz_layer_info Gap() {
  sqz_layer_info l = {};
  l.name = "gap";
  l.kind = SQZ_LAYER_GLOBAL_AVGPOOL;
  return l;
}

// Random weights for every tensor.
void Randomize(sqz_model *m, uint32_t seed) {
  for (int t = 0; t < sqz_model_num_tensors(m); t++) {
    sqz_tensor_info info;
    sqz_model_tensor(m, t, &info, nullptr);
    auto v = sqz_test::RandomVector(info.count, seed + t, -0.3f, 0.3f);
    ASSERT_EQ(sqz_model_set_tensor(m, info.name, v.data(), v.size()), SQZ_OK);
  }
}

float Compare(const sqz_model *m, sqz_precision p, int batch) {
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  auto in = sqz_test::RandomVector((size_t)batch * 3 * h * w, 42, -2, 2);
  std::vector<float> want((size_t)batch * sqz_model_num_classes(m)), got(want.size());
  for (sqz_backend b : {SQZ_BACKEND_CPU, SQZ_BACKEND_FUSED}) {
    sqz_engine_options o = sqz_engine_options_default();
    o.backend = b;
    o.precision = b == SQZ_BACKEND_CPU ? SQZ_PRECISION_FP32 : p;
    o.max_batch = batch;
    sqz_engine *e = nullptr;
    EXPECT_EQ(sqz_engine_create(m, &o, &e), SQZ_OK) << sqz_last_error();
    if (!e) return INFINITY;
    EXPECT_EQ(sqz_engine_run(e, in.data(), batch, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS,
                             (b == SQZ_BACKEND_CPU ? want : got).data()),
              SQZ_OK)
        << sqz_last_error();
    sqz_engine_free(e);
  }
  float scale = 1e-6f;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  return sqz_test::MaxAbsDiff(got.data(), want.data(), want.size()) / scale;
}

struct Net {
  int size;
  bool pool;  // a max pool between two Fire modules (folded into the second)
  sqz_bypass bypass;
  int cin, s, e;  // e: each expand
};

class FusedOneFire : public ::testing::TestWithParam<Net> {};

TEST_P(FusedOneFire, MatchesTheReferenceAtEveryBatch) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  const Net n = GetParam();
  std::vector<sqz_layer_info> layers = {Conv("conv1", n.cin, 1, 1, 0)};
  if (n.pool) {
    layers.push_back(Fire("fire2", n.s, n.cin / 2, n.cin - n.cin / 2, SQZ_BYPASS_SIMPLE));
    layers.push_back(Pool("pool2"));
  }
  const sqz_bypass b =
      n.bypass == SQZ_BYPASS_SIMPLE && 2 * n.e != n.cin ? SQZ_BYPASS_NONE : n.bypass;
  layers.push_back(Fire("fire3", n.s, n.e, n.e, b));
  layers.push_back(Conv("conv10", 10, 1, 1, 1));
  layers.push_back(Gap());
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_create("one_fire", n.size, n.size, layers.data(), (int)layers.size(), &m),
            SQZ_OK)
      << sqz_last_error();
  Randomize(m, 7);
  // Quick runs (the emulated device's CI): the small batches, which
  // already cover every variant and the last tile.
  for (int batch : {1, 3, 256}) {
    if (sqz_test::QuickRun() && batch > 3) continue;
    EXPECT_LE(Compare(m, SQZ_PRECISION_FP32, batch), 1e-4f) << "fp32 batch " << batch;
    EXPECT_LE(Compare(m, SQZ_PRECISION_FP16, batch), 1e-2f) << "fp16 batch " << batch;
  }
  sqz_model_free(m);
}

INSTANTIATE_TEST_SUITE_P(Sizes, FusedOneFire,
                         ::testing::Values(Net{1, false, SQZ_BYPASS_NONE, 32, 16, 32},
                                           Net{7, false, SQZ_BYPASS_SIMPLE, 64, 16, 32},
                                           Net{13, true, SQZ_BYPASS_NONE, 32, 16, 64},
                                           Net{27, false, SQZ_BYPASS_COMPLEX, 48, 16, 64},
                                           Net{55, true, SQZ_BYPASS_SIMPLE, 64, 16, 32},
                                           Net{57, false, SQZ_BYPASS_NONE, 24, 8,
                                               12},  // not multiples of 16
                                           Net{113, true, SQZ_BYPASS_COMPLEX, 16, 16, 16},
                                           // conv10 sees 80 channels: a full and a partial
                                           // chunk of the classifier's staging
                                           Net{19, false, SQZ_BYPASS_NONE, 32, 16, 40},
                                           // 176 input channels: 6 chunks of the squeeze
                                           // (the last of 16) through a ring of 4 buffers
                                           Net{15, false, SQZ_BYPASS_NONE, 176, 32, 48},
                                           // 18 input channels and rows of 6 and 9 weights:
                                           // the CUDA-core kernel's scalar paths
                                           Net{9, false, SQZ_BYPASS_COMPLEX, 18, 6, 9}));

// The weight packing kernel on the device: every half of a 48 x 32 matrix
// where sqz_mma_b_source says, bit for bit; and the launchers refuse what
// their kernels cannot run, before launching anything.
TEST(FusedLaunchers, PackMmaWeightsAndRefuseWhatTheKernelsCannotRun) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  const int k_rows = 48, n = 32;
  std::vector<uint16_t> w((size_t)k_rows * n), packed(w.size());
  for (size_t i = 0; i < w.size(); i++) w[i] = (uint16_t)(i * 7 + 1);  // distinct, finite halves
  void *dw = nullptr, *dp = nullptr;
  ASSERT_EQ(cudaMalloc(&dw, w.size() * 2), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dp, w.size() * 2), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(sqz_launch_pack_mma_b(dw, k_rows, n, dp, 0), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(packed.data(), dp, w.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  int wrong = 0;
  for (size_t i = 0; i < packed.size(); i++) {
    int k, c;
    sqz_mma_b_source(i, k_rows, &k, &c);
    wrong += packed[i] != w[(size_t)k * n + c];
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(sqz_launch_pack_mma_b(dw, 40, n, dp, 0), cudaErrorInvalidValue);  // not 16s
  EXPECT_EQ(sqz_launch_pack_mma_b(dw, k_rows, 24, dp, 0), cudaErrorInvalidValue);
  EXPECT_EQ(sqz_launch_pack_mma_b(nullptr, k_rows, n, dp, 0), cudaErrorInvalidValue);

  // A tensor-core Fire launch: a ring of 2-4 input buffers (1 behind a
  // pool), and the packed weights.
  sqz_fire_args f;
  memset(&f, 0, sizeof f);
  f.math = SQZ_MATH_WMMA;
  f.batch = 1;
  f.cin = f.squeeze = f.e1 = f.e3 = 16;
  f.geo = sqz_fire_geometry_make(16, 16, 8, 16, sqz_pool_fold{0, 1, 0, 16, 16});
  f.mma_e1 = f.mma_e3 = dp;
  f.in_buffers = 5;
  EXPECT_EQ(sqz_launch_fire(&f, SQZ_DTYPE_F16, 0), cudaErrorInvalidValue);
  f.in_buffers = 1;  // only behind a pool
  EXPECT_EQ(sqz_launch_fire(&f, SQZ_DTYPE_F16, 0), cudaErrorInvalidValue);
  f.in_buffers = 2;
  f.mma_e3 = nullptr;
  EXPECT_EQ(sqz_launch_fire(&f, SQZ_DTYPE_F16, 0), cudaErrorInvalidValue);
  // A tensor-core classifier: a ring of 2 or 3.
  sqz_classifier_args c;
  memset(&c, 0, sizeof c);
  c.math = SQZ_MATH_WMMA;
  c.batch = 1;
  c.classes = 16;
  c.buffers = SQZ_CLASSIFIER_MAX_BUFFERS + 1;
  EXPECT_EQ(sqz_launch_classifier(&c, SQZ_DTYPE_F16, 0), cudaErrorInvalidValue);
  c.buffers = 1;
  EXPECT_EQ(sqz_launch_classifier(&c, SQZ_DTYPE_F16, 0), cudaErrorInvalidValue);
  cudaFree(dw);
  cudaFree(dp);
}

// The tensor-core stem on tiles of other shapes (the planner's choices for
// v1.0 on an H100 or H200, an A100, smaller shared memory; a tall one and
// single pixels): every conv output is the same sequence of MMAs over the
// same k steps whatever the tile, and the pool is exact, so each tile's
// output is the 4 x 8 tile's bit for bit; and the 4 x 8 tile's is a plain
// conv + bias + ReLU + max pool in float, to fp16 rounding.
TEST(FusedLaunchers, StemTilesOfEveryShapeGiveTheSameOutput) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  int optin = 0, device = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
            cudaSuccess);
  ASSERT_EQ(sqz_fused_stem_allow_smem((size_t)optin), cudaSuccess);
  const int tiles[][2] = {
      {SQZ_STEM_TILE_H, SQZ_STEM_TILE_W}, {5, 6}, {3, 5}, {2, 9}, {1, 2}, {1, 1}, {8, 3}};
  for (const char *name : {"squeezenet1_0", "squeezenet1_1"}) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(name, 0, &m), SQZ_OK);
    const int size = sqz_test::QuickRun() ? 61 : 224;  // 61: partial tiles at the edges
    ASSERT_EQ(sqz_model_set_input_size(m, size, size), SQZ_OK);
    const sqz_layer *conv = &m->layers[0], *pool = &m->layers[1];
    const int batch = 2, cin = conv->in_c, cout = conv->conv.out_channels, k = conv->conv.kernel;
    const size_t in_n = (size_t)batch * size * size * cin, w_n = (size_t)k * k * cin * cout;
    const size_t out_n = (size_t)batch * pool->out_h * pool->out_w * cout;
    const auto in_f = sqz_test::RandomVector(in_n, 7, -2, 2);
    const auto w_f = sqz_test::RandomVector(w_n, 8, -0.2f, 0.2f);
    const auto bias = sqz_test::RandomVector(cout, 9, -0.5f, 0.5f);
    std::vector<uint16_t> in_h(in_n), w_h(w_n);
    std::vector<float> in_r(in_n), w_r(w_n);  // the fp16 values, in float
    for (size_t i = 0; i < in_n; i++)
      in_r[i] = sqz_half_to_float(in_h[i] = sqz_float_to_half(in_f[i]));
    for (size_t i = 0; i < w_n; i++) w_r[i] = sqz_half_to_float(w_h[i] = sqz_float_to_half(w_f[i]));
    void *d_in = nullptr, *d_w = nullptr, *d_out = nullptr, *d_bias = nullptr;
    ASSERT_EQ(cudaMalloc(&d_in, in_n * 2), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_w, w_n * 2), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_bias, cout * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_out, out_n * 2), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d_in, in_h.data(), in_n * 2, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d_w, w_h.data(), w_n * 2, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d_bias, bias.data(), cout * 4, cudaMemcpyHostToDevice), cudaSuccess);
    std::vector<uint16_t> first;
    for (const auto &t : tiles) {
      sqz_stem_args a;
      memset(&a, 0, sizeof a);
      a.in = d_in;
      a.out = d_out;
      a.batch = batch;
      a.cin = cin;
      a.cout = cout;
      a.geo = sqz_fused_stem_geometry(conv, pool, t[0], t[1]);
      a.weights = d_w;
      a.bias = (const float *)d_bias;
      a.math = SQZ_MATH_WMMA;
      a.smem = sqz_stem_wmma_layout_of(&a.geo, cin, cout).bytes;
      if (a.smem > (size_t)optin) continue;  // (the 4 x 8 tile always fits an H100's)
      ASSERT_EQ(cudaMemset(d_out, 0xff, out_n * 2), cudaSuccess);  // NaNs where nothing is written
      ASSERT_EQ(sqz_launch_stem(&a, SQZ_DTYPE_F16, 0), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<uint16_t> out(out_n);
      ASSERT_EQ(cudaMemcpy(out.data(), d_out, out_n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
      if (first.empty()) {
        first = out;
        continue;
      }
      size_t differ = 0;
      for (size_t i = 0; i < out_n; i++) differ += out[i] != first[i];
      EXPECT_EQ(differ, 0u) << name << " tile " << t[0] << "x" << t[1];
    }
    ASSERT_EQ(first.size(), out_n);
    // The 4 x 8 tile against conv + bias + ReLU + pool in float.
    const int ch = conv->out_h, cw = conv->out_w, s = conv->conv.stride, pad = conv->conv.pad;
    std::vector<float> c((size_t)batch * ch * cw * cout);
    for (int n = 0; n < batch; n++)
      for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
          for (int o = 0; o < cout; o++) {
            float acc = bias[o];
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                const int iy = y * s - pad + ky, ix = x * s - pad + kx;
                if (iy < 0 || iy >= size || ix < 0 || ix >= size) continue;
                for (int i = 0; i < cin; i++)
                  acc += in_r[(((size_t)n * size + iy) * size + ix) * cin + i] *
                         w_r[(((size_t)ky * k + kx) * cin + i) * cout + o];
              }
            c[(((size_t)n * ch + y) * cw + x) * cout + o] = std::max(acc, 0.0f);
          }
    const int pk = pool->pool.kernel, ps = pool->pool.stride;
    ASSERT_EQ(pool->pool.pad, 0);
    float worst = 0, scale = 1e-6f;
    for (int n = 0; n < batch; n++)
      for (int py = 0; py < pool->out_h; py++)
        for (int px = 0; px < pool->out_w; px++)
          for (int o = 0; o < cout; o++) {
            float want = -INFINITY;
            for (int y = py * ps; y < std::min(py * ps + pk, ch); y++)
              for (int x = px * ps; x < std::min(px * ps + pk, cw); x++)
                want = std::max(want, c[(((size_t)n * ch + y) * cw + x) * cout + o]);
            const float got = sqz_half_to_float(
                first[(((size_t)n * pool->out_h + py) * pool->out_w + px) * cout + o]);
            worst = std::max(worst, std::fabs(got - want));
            scale = std::max(scale, std::fabs(want));
          }
    EXPECT_LE(worst / scale, 2e-3f) << name;
    cudaFree(d_in);
    cudaFree(d_w);
    cudaFree(d_bias);
    cudaFree(d_out);
    sqz_model_free(m);
  }
}

TEST(FusedModels, MetaparameterModels) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  struct Meta {
    double sr, pct;
    sqz_bypass bypass;
  } metas[] = {{1.0, 0.5, SQZ_BYPASS_NONE},
               {0.125, 0.01, SQZ_BYPASS_SIMPLE},
               {0.25, 0.99, SQZ_BYPASS_COMPLEX}};
  for (const Meta &meta : metas) {
    sqz_metaparams p = sqz_metaparams_default();
    p.squeeze_ratio = meta.sr;
    p.pct_3x3 = meta.pct;
    p.bypass = meta.bypass;
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_from_metaparams(&p, 3, &m), SQZ_OK);
    // Quick runs at 64x64: the channel counts are what these models vary.
    if (sqz_test::QuickRun()) ASSERT_EQ(sqz_model_set_input_size(m, 64, 64), SQZ_OK);
    EXPECT_LE(Compare(m, SQZ_PRECISION_FP32, 2), 1e-4f) << sqz_model_name(m);
    EXPECT_LE(Compare(m, SQZ_PRECISION_FP16, 2), 1e-2f) << sqz_model_name(m);
    sqz_model_free(m);
  }
}

}  // namespace
