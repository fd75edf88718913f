// The fused kernels one by one against the CPU reference: small networks
// around a single Fire module (with and without a folded max pool, every
// bypass) at odd spatial sizes and batches 1..256, and metaparameter models.
// Skips with the reason without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "gpu/gpu_util.h"
#include "kernels/cuda/fused_kernels.h"
#include "kernels/cuda/fused_plan.h"
#include "kernels/ref/ref_ops.h"
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
                                           Net{9, false, SQZ_BYPASS_COMPLEX, 18, 6, 9},
                                           // a squeeze of 48 (CUDA-core passes of 64
                                           // columns; at batch 3 tiles of 2 rows, the halo's
                                           // 72 rows in two) and expands of 16 (passes of
                                           // 256 x 16)
                                           Net{57, false, SQZ_BYPASS_NONE, 16, 48, 16}));

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

// One stem (a built-in model's conv1 and pool, at a given input size)
// with random fp16-representable input and weights, on the device in fp16
// and fp32, launched directly, and its output in float on the host.
class StemCase {
 public:
  StemCase(const char *model, int size) {
    EXPECT_EQ(sqz_model_builtin(model, 0, &m_), SQZ_OK);
    EXPECT_EQ(sqz_model_set_input_size(m_, size, size), SQZ_OK);
    conv_ = &m_->layers[0];
    pool_ = &m_->layers[1];
    size_ = size;
    cin_ = conv_->in_c;
    cout_ = conv_->conv.out_channels;
    const int k = conv_->conv.kernel;
    in_ = Halves(sqz_test::RandomVector((size_t)kBatch * size * size * cin_, 7, -2, 2));
    w_ = Halves(sqz_test::RandomVector((size_t)k * k * cin_ * cout_, 8, -0.2f, 0.2f));
    bias_ = sqz_test::RandomVector(cout_, 9, -0.5f, 0.5f);
    out_n_ = (size_t)kBatch * pool_->out_h * pool_->out_w * cout_;
    for (auto *v : {&in_, &w_}) {
      void *h = Upload(*v, 2, true), *f = Upload(*v, 4, false);
      (v == &in_ ? in_h_ : w_h_) = h;
      (v == &in_ ? in_f_ : w_f_) = f;
    }
    bias_d_ = Upload(bias_, 4, false);
    EXPECT_EQ(cudaMalloc(&out_, out_n_ * 4), cudaSuccess);
  }
  ~StemCase() {
    for (void *p : {in_h_, in_f_, w_h_, w_f_, bias_d_, out_}) cudaFree(p);
    sqz_model_free(m_);
  }

  // The stem's output (NHWC) in float, by the given kernel; empty when its
  // shared memory exceeds `smem_limit` or the launch fails (a failure).
  std::vector<float> Run(sqz_fused_math math, sqz_dtype dtype, int tile_h, int tile_w, int chunk,
                         size_t smem_limit) {
    sqz_stem_args a;
    memset(&a, 0, sizeof a);
    const bool half = dtype == SQZ_DTYPE_F16;
    a.in = half ? in_h_ : in_f_;
    a.out = out_;
    a.batch = kBatch;
    a.cin = cin_;
    a.cout = cout_;
    a.geo = sqz_fused_stem_geometry(conv_, pool_, tile_h, tile_w);
    a.weights = half ? w_h_ : w_f_;
    a.bias = (const float *)bias_d_;
    a.math = math;
    a.chunk = chunk;
    a.smem = math == SQZ_MATH_WMMA ? sqz_stem_wmma_layout_of(&a.geo, cin_, cout_).bytes
                                   : sqz_stem_smem_bytes(&a.geo, cin_, chunk);
    if (a.smem > smem_limit) return {};
    EXPECT_EQ(cudaMemset(out_, 0xff, out_n_ * 4), cudaSuccess);  // NaNs where nothing is written
    EXPECT_EQ(sqz_launch_stem(&a, dtype, 0), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> out(out_n_);
    if (half) {
      std::vector<uint16_t> h(out_n_);
      EXPECT_EQ(cudaMemcpy(h.data(), out_, out_n_ * 2, cudaMemcpyDeviceToHost), cudaSuccess);
      for (size_t i = 0; i < out_n_; i++) out[i] = sqz_half_to_float(h[i]);
    } else {
      EXPECT_EQ(cudaMemcpy(out.data(), out_, out_n_ * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return out;
  }

  // max |got - want| / max |want| against Reference() (computed once).
  float Error(const std::vector<float> &got) {
    if (want_.empty()) want_ = Reference();
    if (got.size() != want_.size()) return INFINITY;
    float worst = 0, scale = 1e-6f;
    for (size_t i = 0; i < got.size(); i++) {
      worst = std::max(worst, std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - want_[i]));
      scale = std::max(scale, std::fabs(want_[i]));
    }
    return worst / scale;
  }

  int cout() const { return cout_; }

 private:
  static constexpr int kBatch = 2;
  // The reference operators (kernels/ref, NCHW and OIHW) on each image,
  // back to NHWC.
  std::vector<float> Reference() const {
    const int k = conv_->conv.kernel, hw = size_ * size_;
    const int ch = conv_->out_h, cw = conv_->out_w, oh = pool_->out_h, ow = pool_->out_w;
    const sqz_ref_conv_shape shape = {
        cin_, size_, size_, cout_, ch, cw, k, conv_->conv.stride, conv_->conv.pad};
    std::vector<float> w((size_t)cout_ * cin_ * k * k), in((size_t)cin_ * hw);
    std::vector<float> c((size_t)cout_ * ch * cw), p((size_t)cout_ * oh * ow), want(out_n_);
    std::vector<float> scratch(sqz_ref_conv2d_scratch(&shape));
    for (int o = 0; o < cout_; o++)  // HWIO to OIHW
      for (int i = 0; i < cin_; i++)
        for (int t = 0; t < k * k; t++)
          w[((size_t)o * cin_ + i) * k * k + t] = w_[((size_t)t * cin_ + i) * cout_ + o];
    for (int n = 0; n < kBatch; n++) {
      for (int i = 0; i < cin_; i++)
        for (int q = 0; q < hw; q++) in[(size_t)i * hw + q] = in_[((size_t)n * hw + q) * cin_ + i];
      sqz_ref_conv2d(&shape, in.data(), w.data(), bias_.data(), 1, 0, c.data(), scratch.data());
      sqz_ref_maxpool(c.data(), cout_, ch, cw, pool_->pool.kernel, pool_->pool.stride,
                      pool_->pool.pad, p.data(), oh, ow);
      for (int o = 0; o < cout_; o++)
        for (int q = 0; q < oh * ow; q++)
          want[((size_t)n * oh * ow + q) * cout_ + o] = p[(size_t)o * oh * ow + q];
    }
    return want;
  }
  static std::vector<float> Halves(std::vector<float> v) {
    for (float &x : v) x = sqz_half_to_float(sqz_float_to_half(x));
    return v;
  }
  static void *Upload(const std::vector<float> &v, size_t bytes, bool half) {
    void *d = nullptr;
    EXPECT_EQ(cudaMalloc(&d, v.size() * bytes), cudaSuccess);
    std::vector<uint16_t> h(half ? v.size() : 0);
    for (size_t i = 0; i < h.size(); i++) h[i] = sqz_float_to_half(v[i]);
    const void *src = half ? (const void *)h.data() : (const void *)v.data();
    EXPECT_EQ(cudaMemcpy(d, src, v.size() * bytes, cudaMemcpyHostToDevice), cudaSuccess);
    return d;
  }
  sqz_model *m_ = nullptr;
  const sqz_layer *conv_ = nullptr, *pool_ = nullptr;
  int size_ = 0, cin_ = 0, cout_ = 0;
  std::vector<float> in_, w_, bias_, want_;
  size_t out_n_ = 0;
  void *in_h_ = nullptr, *in_f_ = nullptr, *w_h_ = nullptr, *w_f_ = nullptr;
  void *bias_d_ = nullptr, *out_ = nullptr;
};

int DeviceAttribute(cudaDeviceAttr what) {
  int value = 0, device = 0;
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  EXPECT_EQ(cudaDeviceGetAttribute(&value, what, device), cudaSuccess);
  return value;
}

// The stem kernels' whole opt-in shared memory, less their static part
// (the two may not add up to more), allowed: what a tile may take.
size_t SmemOptin() {
  sqz_kernel_ref stems[SQZ_FUSED_FAMILY_KERNELS];
  sqz_fused_stem_kernels(stems);
  size_t usable = (size_t)DeviceAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  for (const sqz_kernel_ref &k : stems) {
    cudaFuncAttributes attr;
    EXPECT_EQ(cudaFuncGetAttributes(&attr, k.fn), cudaSuccess) << k.name;
    usable = std::min(usable, (size_t)DeviceAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin) -
                                  attr.sharedSizeBytes);
  }
  EXPECT_EQ(sqz_fused_allow_smem(stems, usable), cudaSuccess);
  return usable;
}

// Every fused kernel's attributes as the device reports them, printed for
// the GPU check's record (scripts/gpu-check.sh runs this first, in its env
// step), once engines of both built-in models in both precisions have
// raised the limits to what their plans launch: each limit plus the
// kernel's static shared memory fits the device's opt-in size per block,
// and at least the largest plan's variants are allowed. (Runs before the
// stem tests below, which raise the stem's limit to the whole opt-in.)
TEST(FusedLaunchers, KernelAttributesFitTheDevice) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  for (const char *name : {"squeezenet1_0", "squeezenet1_1"})
    for (sqz_precision precision : {SQZ_PRECISION_FP32, SQZ_PRECISION_FP16}) {
      sqz_model *m = nullptr;
      ASSERT_EQ(sqz_model_builtin(name, 1, &m), SQZ_OK) << sqz_last_error();
      sqz_engine_options o = sqz_engine_options_default();
      o.backend = SQZ_BACKEND_FUSED;
      o.precision = precision;
      o.max_batch = 64;
      sqz_engine *e = nullptr;
      EXPECT_EQ(sqz_engine_create(m, &o, &e), SQZ_OK) << name << ": " << sqz_last_error();
      sqz_engine_free(e);
      sqz_model_free(m);
    }
  const size_t optin = (size_t)DeviceAttribute(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  std::printf("%-24s %9s %13s %13s %12s %11s\n", "kernel", "registers", "static smem",
              "dynamic limit", "local bytes", "max threads");
  sqz_kernel_ref kernels[SQZ_FUSED_KERNELS];
  sqz_fused_kernels(kernels);
  size_t largest = 0;
  for (const sqz_kernel_ref &k : kernels) {
    cudaFuncAttributes a;
    ASSERT_EQ(cudaFuncGetAttributes(&a, k.fn), cudaSuccess) << k.name;
    std::printf("%-24s %9d %13zu %13d %12zu %11d\n", k.name, a.numRegs, a.sharedSizeBytes,
                a.maxDynamicSharedSizeBytes, a.localSizeBytes, a.maxThreadsPerBlock);
    EXPECT_LE(a.sharedSizeBytes + (size_t)a.maxDynamicSharedSizeBytes, optin) << k.name;
    EXPECT_GE(a.maxThreadsPerBlock, 128) << k.name;
    largest = std::max(largest, (size_t)a.maxDynamicSharedSizeBytes);
  }
  std::fflush(stdout);
  // v1.0's stem and the Fire modules' rings take more than the 48 KiB
  // default on an H100 or H200 (and the emulated device).
  if (optin >= (size_t)227 << 10) EXPECT_GT(largest, (size_t)48 << 10);
}

// Quick runs at 61 x 61 (partial tiles at the edges), else 224.
int StemSize() { return sqz_test::QuickRun() ? 61 : 224; }

// The tensor-core stem on tiles of other shapes (the planner's choices for
// v1.0 on an H100 or H200, an A100, smaller shared memory; a tall one and
// single pixels): every conv output is the same sequence of MMAs over the
// same k steps whatever the tile, and the pool is exact, so each tile's
// output is the 4 x 8 tile's bit for bit; and the 4 x 8 tile's is the
// reference operators' conv + bias + ReLU + max pool, to fp16 rounding.
TEST(FusedLaunchers, StemTilesOfEveryShapeGiveTheSameOutput) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  const size_t optin = SmemOptin();
  const int tiles[][2] = {{5, 6}, {3, 5}, {2, 9}, {1, 2}, {1, 1}, {8, 3}};
  for (const char *name : {"squeezenet1_0", "squeezenet1_1"}) {
    StemCase c(name, StemSize());
    const auto first =
        c.Run(SQZ_MATH_WMMA, SQZ_DTYPE_F16, SQZ_STEM_TILE_H, SQZ_STEM_TILE_W, 0, optin);
    ASSERT_FALSE(first.empty()) << name;  // (the 4 x 8 tile fits an H100's)
    EXPECT_LE(c.Error(first), 2e-3f) << name;
    for (const auto &t : tiles) {
      const auto out = c.Run(SQZ_MATH_WMMA, SQZ_DTYPE_F16, t[0], t[1], 0, optin);
      // Every tile here fits an H100's or H200's 227 KB (and the emulated
      // device's); a smaller device skips the largest.
      if (optin >= (size_t)227 << 10) EXPECT_FALSE(out.empty()) << t[0] << "x" << t[1];
      if (out.empty()) continue;
      size_t differ = 0;
      for (size_t i = 0; i < out.size(); i++) differ += out[i] != first[i];
      EXPECT_EQ(differ, 0u) << name << " tile " << t[0] << "x" << t[1];
    }
  }
}

// The CUDA-core stem, fp32 and fp16 storage, in passes of one group of 8
// channels, of 40 (the last pass partial: 16 of v1.0's 96, 24 of v1.1's
// 64), of the planner's split (48 or 64) and of all channels at once, on
// the default tile and a 3 x 5 one: the reference operators' conv + bias +
// ReLU + max pool.
TEST(FusedLaunchers, StemOnCudaCoresInEveryChunking) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_FUSED);
  const size_t optin = SmemOptin();
  for (const char *name : {"squeezenet1_0", "squeezenet1_1"}) {
    StemCase c(name, StemSize());
    const int split = c.cout() == 96 ? 48 : 64;
    for (int chunk : {(int)SQZ_STEM_GROUP, 40, split, c.cout()})
      for (const auto &t :
           {std::make_pair((int)SQZ_STEM_TILE_H, (int)SQZ_STEM_TILE_W), std::make_pair(3, 5)}) {
        const auto f32 = c.Run(SQZ_MATH_FMA, SQZ_DTYPE_F32, t.first, t.second, chunk, optin);
        const auto f16 = c.Run(SQZ_MATH_FMA, SQZ_DTYPE_F16, t.first, t.second, chunk, optin);
        if (optin >= (size_t)227 << 10) EXPECT_FALSE(f32.empty()) << chunk;
        if (f32.empty()) continue;
        const std::string where = std::string(name) + " chunk " + std::to_string(chunk) + " tile " +
                                  std::to_string(t.first) + "x" + std::to_string(t.second);
        EXPECT_LE(c.Error(f32), 1e-5f) << where;
        EXPECT_LE(c.Error(f16), 2e-3f) << where;
      }
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
