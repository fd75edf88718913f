// The cpu engine: against an independent direct implementation, input
// layouts, batches, threads, outputs and refused arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "runtime/engine.h"
#include "sqz.h"

namespace {

struct Owned {
  sqz_model *m = nullptr;
  sqz_engine *e = nullptr;
  ~Owned() {
    sqz_engine_free(e);
    sqz_model_free(m);
  }
};

sqz_engine *CpuEngine(const sqz_model *m, int max_batch, int threads = 0) {
  sqz_engine_options o = sqz_engine_options_default();
  o.backend = SQZ_BACKEND_CPU;
  o.max_batch = max_batch;
  o.cpu_threads = threads;
  sqz_engine *e = nullptr;
  EXPECT_EQ(sqz_engine_create(m, &o, &e), SQZ_OK) << sqz_last_error();
  return e;
}

class TinyAgainstNaive : public ::testing::TestWithParam<std::tuple<sqz_bypass, int>> {};

TEST_P(TinyAgainstNaive, LogitsMatch) {
  auto [bypass, size] = GetParam();
  Owned o;
  o.m = sqz_test::TinyModel(size, bypass, 11);
  ASSERT_NE(o.m, nullptr);
  o.e = CpuEngine(o.m, 2);
  const size_t n = 3 * (size_t)size * size;
  auto input = sqz_test::RandomVector(2 * n, 12, -2, 2);
  std::vector<float> logits(2 * 5);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 2, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, logits.data()),
            SQZ_OK);
  for (int b = 0; b < 2; b++) {
    auto want = sqz_test::NaiveForward(o.m, input.data() + b * n);
    ASSERT_EQ(want.size(), 5u);
    for (int k = 0; k < 5; k++)
      EXPECT_NEAR(logits[b * 5 + k], want[k], 1e-5 * (1 + std::fabs(want[k])));
  }
}

INSTANTIATE_TEST_SUITE_P(BypassAndSize, TinyAgainstNaive,
                         ::testing::Combine(::testing::Values(SQZ_BYPASS_NONE, SQZ_BYPASS_SIMPLE,
                                                              SQZ_BYPASS_COMPLEX),
                                            ::testing::Values(9, 16, 31)));

TEST(CpuEngine, BuiltinV11AgainstNaive) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 1, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 67, 67), SQZ_OK);  // keeps the test fast
  o.e = CpuEngine(o.m, 1);
  auto input = sqz_test::RandomVector(3 * 67 * 67, 5, -2, 2);
  std::vector<float> logits(1000);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, logits.data()),
            SQZ_OK);
  auto want = sqz_test::NaiveForward(o.m, input.data());
  float scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  EXPECT_GT(scale, 0.0f);
  EXPECT_LE(sqz_test::MaxAbsDiff(logits.data(), want.data(), 1000), 1e-4f * scale);
}

TEST(CpuEngine, LayoutsAndImagesAgree) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 2, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 48, 40), SQZ_OK);
  o.e = CpuEngine(o.m, 2);
  const int h = 48, w = 40;
  std::vector<uint8_t> rgb(2 * h * w * 3);
  for (size_t i = 0; i < rgb.size(); i++) rgb[i] = (uint8_t)((i * 31 + 7) % 256);
  // The same images by hand: (pixel - mean) * scale, RGB, both layouts.
  sqz_preprocess p;
  sqz_model_preprocess(o.m, &p);
  std::vector<float> nchw(rgb.size()), nhwc(rgb.size());
  for (int b = 0; b < 2; b++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
          size_t pix = ((size_t)(b * h + y) * w + x) * 3 + c;
          float v = ((float)rgb[pix] - p.mean[c]) * p.scale[c];
          nhwc[pix] = v;
          nchw[(((size_t)b * 3 + c) * h + y) * w + x] = v;
        }
  std::vector<float> a(2000), b(2000), c(2000);
  ASSERT_EQ(sqz_engine_run_images(o.e, rgb.data(), 2, SQZ_OUTPUT_LOGITS, a.data()), SQZ_OK);
  ASSERT_EQ(sqz_engine_run(o.e, nchw.data(), 2, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, b.data()),
            SQZ_OK);
  ASSERT_EQ(sqz_engine_run(o.e, nhwc.data(), 2, SQZ_LAYOUT_NHWC, SQZ_OUTPUT_LOGITS, c.data()),
            SQZ_OK);
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, c);
  EXPECT_NE(std::vector<float>(a.begin(), a.begin() + 1000),
            std::vector<float>(a.begin() + 1000, a.end()));
}

TEST(CpuEngine, BgrOrderSwapsChannels) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 2, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 35, 35), SQZ_OK);
  o.m->preprocess.channel_order = SQZ_ORDER_BGR;
  const float mean[3] = {104, 117, 123};
  std::memcpy(o.m->preprocess.mean, mean, sizeof mean);
  for (float &s : o.m->preprocess.scale) s = 1.0f;
  o.e = CpuEngine(o.m, 1);
  std::vector<uint8_t> rgb(35 * 35 * 3);
  for (size_t i = 0; i < rgb.size(); i++)
    rgb[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 50 : 10);
  std::vector<float> planar(rgb.size());
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 35 * 35; i++)
      planar[c * 35 * 35 + i] = (float)rgb[i * 3 + (2 - c)] - mean[c];
  std::vector<float> a(1000), b(1000);
  ASSERT_EQ(sqz_engine_run_images(o.e, rgb.data(), 1, SQZ_OUTPUT_LOGITS, a.data()), SQZ_OK);
  ASSERT_EQ(sqz_engine_run(o.e, planar.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, b.data()),
            SQZ_OK);
  EXPECT_EQ(a, b);
}

TEST(CpuEngine, BatchEqualsSingleRunsAndThreadsDoNotChangeResults) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 3, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 64, 64), SQZ_OK);
  o.e = CpuEngine(o.m, 3, 2);
  sqz_engine *one = CpuEngine(o.m, 1, 1);
  const size_t n = 3 * 64 * 64;
  auto input = sqz_test::RandomVector(3 * n, 9, -2, 2);
  std::vector<float> batch(3000), single(3000);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 3, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_PROBS, batch.data()),
            SQZ_OK);
  for (int b = 0; b < 3; b++)
    ASSERT_EQ(sqz_engine_run(one, input.data() + b * n, 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_PROBS,
                             single.data() + b * 1000),
              SQZ_OK);
  sqz_engine_free(one);
  EXPECT_EQ(batch, single);  // bitwise: 2 threads vs 1, batch vs single
  for (int b = 0; b < 3; b++) {
    double sum = std::accumulate(batch.begin() + b * 1000, batch.begin() + (b + 1) * 1000, 0.0);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(CpuEngine, ProbabilitiesAreTheSoftmaxOfTheLogits) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 4, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 40, 40), SQZ_OK);
  o.e = CpuEngine(o.m, 1);
  auto input = sqz_test::RandomVector(3 * 40 * 40, 1, -2, 2);
  std::vector<float> logits(1000), probs(1000);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, logits.data()),
            SQZ_OK);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_PROBS, probs.data()),
            SQZ_OK);
  double z = 0;
  float mx = *std::max_element(logits.begin(), logits.end());
  for (float v : logits) z += std::exp((double)v - mx);
  for (int i = 0; i < 1000; i++) EXPECT_NEAR(probs[i], std::exp((double)logits[i] - mx) / z, 1e-6);
}

TEST(CpuEngine, ReportsItsShapeAndStream) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 4, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 40, 48), SQZ_OK);
  o.e = CpuEngine(o.m, 1);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 224, 224), SQZ_OK);
  int c = 0, h = 0, w = 0;
  sqz_engine_input_shape(o.e, &c, &h, &w);
  EXPECT_EQ(c, 3);
  EXPECT_EQ(h, 40);
  EXPECT_EQ(w, 48);
  EXPECT_EQ(sqz_engine_num_classes(o.e), 1000);
  EXPECT_EQ(sqz_engine_stream(o.e), nullptr);
}

TEST(CpuEngine, ExistingEnginesKeepTheirInputSize) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 4, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 40, 40), SQZ_OK);
  o.e = CpuEngine(o.m, 1);
  auto input = sqz_test::RandomVector(3 * 40 * 40, 1, -2, 2);
  std::vector<float> before(1000), after(1000);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, before.data()),
            SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 224, 224), SQZ_OK);
  ASSERT_EQ(sqz_engine_run(o.e, input.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, after.data()),
            SQZ_OK);
  EXPECT_EQ(before, after);
}

TEST(Engine, RefusedArguments) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(o.m, 32, 32), SQZ_OK);
  o.e = CpuEngine(o.m, 2);
  std::vector<float> in(3 * 3 * 32 * 32), out(3000);
  auto expect_invalid = [](sqz_status st, const char *word) {
    EXPECT_EQ(st, SQZ_ERR_INVALID_ARGUMENT) << word;
    EXPECT_NE(std::string(sqz_last_error()).find(word), std::string::npos) << sqz_last_error();
  };
  expect_invalid(sqz_engine_run(o.e, in.data(), 3, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
                 "max_batch");
  expect_invalid(sqz_engine_run(o.e, in.data(), 0, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
                 "batch 0");
  expect_invalid(sqz_engine_run(o.e, nullptr, 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
                 "NULL");
  expect_invalid(sqz_engine_run(o.e, in.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, nullptr),
                 "NULL");
  expect_invalid(sqz_engine_run(o.e, in.data(), 1, (sqz_layout)5, SQZ_OUTPUT_LOGITS, out.data()),
                 "layout");
  expect_invalid(sqz_engine_run(o.e, in.data(), 1, SQZ_LAYOUT_NCHW, (sqz_output_kind)9, out.data()),
                 "output kind");
  expect_invalid(
      sqz_engine_run(nullptr, in.data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
      "NULL");
  sqz_io io = {1, (sqz_input_format)7, in.data(), SQZ_OUTPUT_LOGITS, out.data()};
  expect_invalid(sqz_engine_run_async(o.e, &io), "input format");
  EXPECT_EQ(sqz_engine_synchronize(nullptr), SQZ_ERR_INVALID_ARGUMENT);
  sqz_engine_free(nullptr);

  sqz_engine_options opt = sqz_engine_options_default();
  sqz_engine *e = nullptr;
  opt.max_batch = 0;
  expect_invalid(sqz_engine_create(o.m, &opt, &e), "max_batch");
  opt = sqz_engine_options_default();
  opt.backend = (sqz_backend)42;
  expect_invalid(sqz_engine_create(o.m, &opt, &e), "backend");
  opt = sqz_engine_options_default();
  opt.precision = (sqz_precision)3;
  expect_invalid(sqz_engine_create(o.m, &opt, &e), "precision");
  expect_invalid(sqz_engine_create(nullptr, nullptr, &e), "NULL");
  EXPECT_EQ(e, nullptr);
}

TEST(Engine, CpuRefusesFp16AndGpuBackendsSayWhy) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &o.m), SQZ_OK);
  sqz_engine_options opt = sqz_engine_options_default();
  opt.backend = SQZ_BACKEND_CPU;
  opt.precision = SQZ_PRECISION_FP16;
  sqz_engine *e = nullptr;
  EXPECT_EQ(sqz_engine_create(o.m, &opt, &e), SQZ_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(sqz_last_error()).find("fp32 only"), std::string::npos);
  for (sqz_backend b : {SQZ_BACKEND_CUDNN, SQZ_BACKEND_UNFUSED, SQZ_BACKEND_FUSED}) {
    opt = sqz_engine_options_default();
    opt.backend = b;
    sqz_status st = sqz_engine_create(o.m, &opt, &e);
    if (st == SQZ_OK) {  // a GPU is here
      EXPECT_EQ(sqz_engine_backend(e), b);
      sqz_engine_free(e);
      e = nullptr;
      continue;
    }
    if (!sqz_backend_is_built(b)) {
      EXPECT_EQ(st, SQZ_ERR_UNSUPPORTED);
      EXPECT_NE(std::string(sqz_last_error()).find(sqz_backend_name(b)), std::string::npos);
    } else {
      EXPECT_EQ(st, SQZ_ERR_NO_DEVICE) << sqz_last_error();
    }
    EXPECT_EQ(e, nullptr);
  }
}

TEST(Engine, AutoFallsBackToCpuForFp32) {
  Owned o;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &o.m), SQZ_OK);
  ASSERT_EQ(sqz_engine_create(o.m, nullptr, &o.e), SQZ_OK) << sqz_last_error();
  sqz_backend b = sqz_engine_backend(o.e);
  EXPECT_NE(b, SQZ_BACKEND_AUTO);
  std::string desc = sqz_engine_describe(o.e);
  EXPECT_EQ(desc.rfind(sqz_backend_name(b), 0), 0u) << desc;
  if (b == SQZ_BACKEND_CPU) EXPECT_NE(desc.find("fp32"), std::string::npos);
}

TEST(Engine, NamesParseBothWays) {
  for (int b = 0; b <= SQZ_BACKEND_FUSED; b++) {
    sqz_backend out;
    ASSERT_EQ(sqz_backend_parse(sqz_backend_name((sqz_backend)b), &out), SQZ_OK);
    EXPECT_EQ(out, b);
  }
  sqz_backend out;
  EXPECT_EQ(sqz_backend_parse("tpu", &out), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("cudnn"), std::string::npos);
  sqz_precision p;
  ASSERT_EQ(sqz_precision_parse("fp16", &p), SQZ_OK);
  EXPECT_EQ(p, SQZ_PRECISION_FP16);
  EXPECT_EQ(sqz_precision_parse("bf16", &p), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(sqz_status_string(SQZ_ERR_NO_DEVICE), "no device");
  EXPECT_STREQ(sqz_version(), SQZ_VERSION_STRING);
}

}  // namespace
