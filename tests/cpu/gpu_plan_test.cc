// The host-side logic of the GPU backends, tested without a GPU: memory
// planning by liveness, weight repacking and fp16 conversion, cuDNN tensor
// views, the backends' buffer plans and the shared-weights registry.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/unfused_plan.h"
#include "kernels/cudnn/cudnn_plan.h"
#include "runtime/memory_plan.h"
#include "runtime/shared_weights.h"
#include "runtime/weight_pack.h"
#include "sqz.h"

namespace {

// No two buffers live at the same step may share a byte.
void ExpectValid(const sqz_memory_plan &p) {
  for (int i = 0; i < p.count; i++) {
    const sqz_plan_buffer &a = p.buffers[i];
    EXPECT_EQ(a.offset % SQZ_PLAN_ALIGN, 0u);
    EXPECT_LE(a.offset + a.bytes, p.total);
    for (int j = i + 1; j < p.count; j++) {
      const sqz_plan_buffer &b = p.buffers[j];
      bool time = a.first <= b.last && b.first <= a.last;
      bool space = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      ASSERT_FALSE(time && space) << "buffers " << i << " and " << j;
    }
  }
}

TEST(MemoryPlan, ChainReusesMemory) {
  sqz_memory_plan p;
  sqz_plan_init(&p);
  // A chain a -> b -> c -> d: only neighbours live together.
  for (int i = 0; i < 4; i++) sqz_plan_add(&p, 1000 * (i + 1), i, i + 1);
  sqz_plan_finish(&p);
  ExpectValid(p);
  // Sizes round up to 256: 1024, 2048, 3072, 4096. The largest pair live
  // together is c and d.
  EXPECT_EQ(sqz_plan_live_peak(&p), 3072u + 4096u);
  EXPECT_EQ(p.total, 3072u + 4096u);
}

TEST(MemoryPlan, RandomLifetimesAreValidAndBounded) {
  std::mt19937 gen(3);
  for (int trial = 0; trial < 50; trial++) {
    sqz_memory_plan p;
    sqz_plan_init(&p);
    size_t sum = 0;
    int n = 1 + (int)(gen() % 60);
    for (int i = 0; i < n; i++) {
      int first = (int)(gen() % 40), len = (int)(gen() % 6);
      size_t bytes = 1 + gen() % 100000;
      ASSERT_GE(sqz_plan_add(&p, bytes, first, first + len), 0);
      sum += p.buffers[i].bytes;
    }
    sqz_plan_finish(&p);
    ExpectValid(p);
    EXPECT_GE(p.total, sqz_plan_live_peak(&p));
    EXPECT_LE(p.total, sum);
  }
}

TEST(MemoryPlan, FullPlanReportsAnError) {
  sqz_memory_plan p;
  sqz_plan_init(&p);
  for (int i = 0; i < SQZ_PLAN_MAX_BUFFERS; i++) ASSERT_EQ(sqz_plan_add(&p, 1, 0, 0), i);
  EXPECT_EQ(sqz_plan_add(&p, 1, 0, 0), -1);
}

TEST(Half, RoundTripOfEveryHalfAndRounding) {
  for (uint32_t h = 0; h < 65536; h++) {
    float f = sqz_half_to_float((uint16_t)h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(sqz_half_to_float(sqz_float_to_half(f))));
      continue;
    }
    ASSERT_EQ(sqz_float_to_half(f), (uint16_t)h) << h;
  }
  EXPECT_EQ(sqz_half_to_float(sqz_float_to_half(1.0f)), 1.0f);
  EXPECT_EQ(sqz_float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(sqz_float_to_half(65520.0f), 0x7C00);  // ties to even: overflow
  EXPECT_EQ(sqz_float_to_half(1e-8f), 0x0000);
  EXPECT_EQ(sqz_float_to_half(-1e-8f), 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
  EXPECT_EQ(sqz_float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(sqz_float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Smallest subnormal, and half of it rounds to even (zero).
  EXPECT_EQ(sqz_float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(sqz_float_to_half(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(sqz_float_to_half(std::ldexp(3.0f, -25)), 0x0002);
}

TEST(WeightPack, LayoutsPutEachValueWhereItBelongs) {
  const int o = 3, i = 2, k = 3;
  std::vector<float> oihw(o * i * k * k);
  for (size_t n = 0; n < oihw.size(); n++) oihw[n] = (float)n;
  std::vector<float> ohwi(oihw.size()), hwio(oihw.size());
  sqz_pack_conv_weights(oihw.data(), o, i, k, SQZ_WEIGHTS_OHWI, SQZ_DTYPE_F32, ohwi.data());
  sqz_pack_conv_weights(oihw.data(), o, i, k, SQZ_WEIGHTS_HWIO, SQZ_DTYPE_F32, hwio.data());
  for (int a = 0; a < o; a++)
    for (int b = 0; b < i; b++)
      for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++) {
          float v = oihw[((a * i + b) * k + y) * k + x];
          EXPECT_EQ(ohwi[((a * k + y) * k + x) * i + b], v);
          EXPECT_EQ(hwio[((y * k + x) * i + b) * o + a], v);
        }
  std::vector<uint16_t> half(oihw.size());
  sqz_pack_conv_weights(oihw.data(), o, i, k, SQZ_WEIGHTS_OIHW, SQZ_DTYPE_F16, half.data());
  EXPECT_EQ(sqz_half_to_float(half[17]), 17.0f);
}

TEST(WeightPack, WholeModelBlockIsAlignedAndComplete) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 1, &m), SQZ_OK);
  std::vector<sqz_packed_layer> off(m->num_layers);
  sqz_pack_format f = {SQZ_WEIGHTS_OHWI, SQZ_DTYPE_F16, SQZ_DTYPE_F32};
  size_t bytes = sqz_pack_weights(m->layers, m->num_layers, m->weights, f, nullptr, off.data());
  // Every parameter once: weights at 2 bytes, biases at 4, plus alignment.
  EXPECT_GE(bytes, sqz_model_param_count(m) * 2);
  EXPECT_LE(bytes, sqz_model_param_count(m) * 4 + 4 * 256 * 40);
  std::vector<unsigned char> block(bytes);
  sqz_pack_weights(m->layers, m->num_layers, m->weights, f, block.data(), off.data());
  // fire2's shortcut bias, read back from its offset.
  const sqz_layer &fire2 = m->layers[2];
  ASSERT_EQ(fire2.fire.bypass, SQZ_BYPASS_COMPLEX);
  EXPECT_EQ(off[2].shortcut.bias % 256, 0u);
  float b0;
  std::memcpy(&b0, &block[off[2].shortcut.bias], 4);
  EXPECT_EQ(b0, m->weights[fire2.fire.shortcut.bias]);
  uint16_t w0;
  std::memcpy(&w0, &block[off[2].expand3x3.weight], 2);
  EXPECT_EQ(w0, sqz_float_to_half(m->weights[fire2.fire.expand3x3.weight]));
  sqz_model_free(m);
}

TEST(CudnnViews, ChannelRangesOfNchwAndNhwc) {
  // Channels [64, 128) of a 2 x 128 x 55 x 55 tensor.
  sqz_view v = sqz_make_view(2, 64, 55, 55, 128, 64, 0);
  EXPECT_EQ(v.dims[1], 64);
  EXPECT_EQ(v.strides[0], 128 * 55 * 55);
  EXPECT_EQ(v.strides[1], 55 * 55);
  EXPECT_EQ(v.strides[3], 1);
  EXPECT_EQ(v.offset, 64u * 55 * 55);
  sqz_view h = sqz_make_view(2, 64, 55, 55, 128, 64, 1);
  EXPECT_EQ(h.strides[0], 55 * 55 * 128);
  EXPECT_EQ(h.strides[1], 1);
  EXPECT_EQ(h.strides[2], 55 * 128);
  EXPECT_EQ(h.strides[3], 128);
  EXPECT_EQ(h.offset, 64u);
  // Element (n=1, c=3, y=2, x=5) of the view is element (1, 67, 2, 5) of the
  // whole tensor in both layouts.
  size_t at = h.offset + 1 * h.strides[0] + 3 * h.strides[1] + 2 * h.strides[2] + 5 * h.strides[3];
  EXPECT_EQ(at, (((size_t)1 * 55 + 2) * 55 + 5) * 128 + 67);
  at = v.offset + 1 * v.strides[0] + 3 * v.strides[1] + 2 * v.strides[2] + 5 * v.strides[3];
  EXPECT_EQ(at, (((size_t)1 * 128 + 67) * 55 + 2) * 55 + 5);
}

size_t LargestActivation(const sqz_model *m) {
  size_t best = 0;
  for (int i = 0; i < m->num_layers; i++) {
    const sqz_layer &l = m->layers[i];
    best = std::max(best, (size_t)l.in_c * l.in_h * l.in_w);
    best = std::max(best, (size_t)l.out_c * l.out_h * l.out_w);
  }
  return best;
}

TEST(BackendPlans, CudnnPeakIsAboutTwoActivations) {
  for (const char *name : {"squeezenet1_0", "squeezenet1_1", "squeezenet1_0_complex_bypass"}) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(name, 0, &m), SQZ_OK);
    sqz_memory_plan p;
    sqz_plan_init(&p);
    sqz_cudnn_plan plan;
    ASSERT_EQ(sqz_cudnn_plan_buffers(m->layers, m->num_layers, 256, 2, &p, &plan), SQZ_OK);
    sqz_plan_finish(&p);
    ExpectValid(p);
    size_t sum = 0;
    for (int i = 0; i < p.count; i++) sum += p.buffers[i].bytes;
    const size_t one = LargestActivation(m) * 256 * 2;
    EXPECT_LE(p.total, 2 * one + one / 4) << name;  // two tensors plus a squeeze output
    EXPECT_LT(p.total, sum / 3) << name;            // far below keeping every layer
    EXPECT_EQ(p.total, sqz_plan_live_peak(&p)) << name;
    sqz_model_free(m);
  }
}

TEST(BackendPlans, CudnnRefusesTensorsPastItsIntSizes) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m), SQZ_OK);
  sqz_memory_plan p;
  sqz_plan_init(&p);
  sqz_cudnn_plan plan;
  // conv1's output is 96 x 109 x 109 = 1.14 M elements: 8192 images pass 2^31.
  EXPECT_EQ(sqz_cudnn_plan_buffers(m->layers, m->num_layers, 8192, 2, &p, &plan),
            SQZ_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(sqz_last_error()).find("max_batch 1882 or less"), std::string::npos)
      << sqz_last_error();
  sqz_plan_init(&p);
  EXPECT_EQ(sqz_cudnn_plan_buffers(m->layers, m->num_layers, 1882, 2, &p, &plan), SQZ_OK);
  sqz_model_free(m);
}

TEST(BackendPlans, UnfusedPlanKeepsEveryStepsInputsAlive) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 0, &m), SQZ_OK);
  sqz_memory_plan p;
  sqz_plan_init(&p);
  sqz_unfused_plan plan;
  ASSERT_EQ(sqz_unfused_plan_buffers(m->layers, m->num_layers, 64, 4, &p, &plan), SQZ_OK);
  sqz_plan_finish(&p);
  ExpectValid(p);
  // The fire input must outlive its shortcut; the expand outputs the concat.
  for (int i = 0; i < m->num_layers; i++) {
    const sqz_unfused_buffers &b = plan.layers[i];
    if (m->layers[i].kind != SQZ_LAYER_FIRE) continue;
    EXPECT_GE(p.buffers[b.e1].last, p.buffers[b.out].first);
    EXPECT_GE(p.buffers[b.e3].last, p.buffers[b.out].first);
    if (m->layers[i].fire.bypass != SQZ_BYPASS_NONE) {
      int in = plan.layers[i - 1].out;
      EXPECT_GE(p.buffers[in].last, p.buffers[b.out].first + 1);
    }
  }
  // One im2col buffer serves every convolution: the largest is conv1's
  // (7x7 over 3 channels at 109x109), and it lives for the whole run.
  const sqz_plan_buffer &cols = p.buffers[plan.columns];
  EXPECT_EQ(cols.bytes, (size_t)109 * 109 * 147 * 64 * 4);
  EXPECT_EQ(cols.first, 0);
  EXPECT_GT(cols.last, 1000);
  EXPECT_EQ(plan.workspace_bytes, cols.bytes + (size_t)SQZ_CUBLAS_WORKSPACE);
  sqz_conv one = {};
  one.kernel = 1;
  one.stride = 1;
  EXPECT_EQ(sqz_unfused_needs_im2col(&one), 0);
  one.pad = 1;
  EXPECT_EQ(sqz_unfused_needs_im2col(&one), 1);
  sqz_model_free(m);
}

int made = 0, freed = 0;
sqz_status Make(void *, void **ptr, size_t *bytes) {
  made++;
  *ptr = new char[16];
  *bytes = 16;
  return SQZ_OK;
}
void Free(void *ptr, int) {
  freed++;
  delete[] static_cast<char *>(ptr);
}

TEST(SharedWeights, OneCopyPerModelFormatAndVersion) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  made = freed = 0;
  sqz_weights_maker maker = {Make, Free, nullptr};
  void *a = nullptr, *b = nullptr, *c = nullptr, *d = nullptr;
  int shared = -1;
  ASSERT_EQ(sqz_shared_weights_acquire(m, 0, 7, &maker, &a, &shared), SQZ_OK);
  EXPECT_EQ(shared, 0);
  ASSERT_EQ(sqz_shared_weights_acquire(m, 0, 7, &maker, &b, &shared), SQZ_OK);
  EXPECT_EQ(shared, 1);
  EXPECT_EQ(a, b);
  EXPECT_EQ(sqz_shared_weights_refs(a), 2);
  ASSERT_EQ(sqz_shared_weights_acquire(m, 1, 7, &maker, &c, &shared), SQZ_OK);  // other device
  EXPECT_NE(c, a);
  std::vector<float> bias(64, 0.0f);
  ASSERT_EQ(sqz_model_set_tensor(m, "conv1.bias", bias.data(), 64), SQZ_OK);
  ASSERT_EQ(sqz_shared_weights_acquire(m, 0, 7, &maker, &d, &shared), SQZ_OK);  // new weights
  EXPECT_NE(d, a);
  EXPECT_EQ(made, 3);
  sqz_shared_weights_release(a);
  EXPECT_EQ(freed, 0);
  sqz_shared_weights_release(b);
  EXPECT_EQ(freed, 1);
  sqz_shared_weights_release(c);
  sqz_shared_weights_release(d);
  EXPECT_EQ(freed, 3);
  EXPECT_EQ(sqz_shared_weights_refs(a), 0);
  sqz_model_free(m);
}

}  // namespace
