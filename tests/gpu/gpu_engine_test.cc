// The GPU backends against the CPU reference, the real weights, graphs,
// streams, threads, memory and refused arguments. Every test skips with the
// reason when there is no GPU (or the library was built without CUDA).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/test_util.h"
#include "gpu/gpu_util.h"
#include "kernels/cudnn/cudnn_plan.h"
#include "runtime/alloc.h"
#include "runtime/engine.h"
#include "runtime/gpu_engine.h"
#include "runtime/shared_weights.h"
#include "sqz.h"

namespace {

// compute-sanitizer's leak check (scripts/gpu-check.sh) reports the device
// memory still allocated when the context is torn down; resetting the device
// after the last test, once every engine is freed, makes that moment
// explicit instead of leaving it to the process's exit.
class DeviceResetAtEnd : public ::testing::Environment {
 public:
  void TearDown() override {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) {
      EXPECT_EQ(cudaDeviceReset(), cudaSuccess);
    }
    (void)cudaGetLastError(); /* the count fails without a device */
  }
};
::testing::Environment *const kDeviceResetAtEnd =
    ::testing::AddGlobalTestEnvironment(new DeviceResetAtEnd);

struct Engine {
  sqz_engine *e = nullptr;
  Engine(const sqz_model *m, sqz_backend b, sqz_precision p, int max_batch, bool graphs = true,
         void *stream = nullptr) {
    sqz_engine_options o = sqz_engine_options_default();
    o.backend = b;
    o.precision = p;
    o.max_batch = max_batch;
    o.cuda_graphs = graphs;
    o.stream = stream;
    EXPECT_EQ(sqz_engine_create(m, &o, &e), SQZ_OK) << sqz_last_error();
  }
  ~Engine() { sqz_engine_free(e); }
  std::vector<float> Run(const std::vector<float> &in, int batch,
                         sqz_layout layout = SQZ_LAYOUT_NCHW) {
    std::vector<float> out((size_t)batch * 1000, NAN);
    EXPECT_EQ(sqz_engine_run(e, in.data(), batch, layout, SQZ_OUTPUT_LOGITS, out.data()), SQZ_OK)
        << sqz_last_error();
    return out;
  }
};

// Logits of the cpu reference, cached per (model name, input, batch): the
// backends and precisions share them.
std::vector<float> CpuLogits(const sqz_model *m, const std::vector<float> &in, int batch) {
  static std::map<std::tuple<std::string, const void *, int>, std::vector<float>> cache;
  auto key = std::make_tuple(std::string(sqz_model_name(m)), (const void *)in.data(), batch);
  auto hit = cache.find(key);
  if (hit != cache.end()) return hit->second;
  Engine cpu(m, SQZ_BACKEND_CPU, SQZ_PRECISION_FP32, batch);
  return cache[key] = cpu.Run(in, batch);
}

// max |got - want| relative to the largest |want|.
float RelativeError(const std::vector<float> &got, const std::vector<float> &want) {
  float scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  return sqz_test::MaxAbsDiff(got.data(), want.data(), want.size()) / std::max(scale, 1e-6f);
}

struct Case {
  sqz_backend backend;
  sqz_precision precision;
};

// Every GPU backend in both precisions, named "cudnn_fp16" and so on.
const auto kEveryBackendAndPrecision = ::testing::Values(
    Case{SQZ_BACKEND_CUDNN, SQZ_PRECISION_FP32}, Case{SQZ_BACKEND_CUDNN, SQZ_PRECISION_FP16},
    Case{SQZ_BACKEND_UNFUSED, SQZ_PRECISION_FP32}, Case{SQZ_BACKEND_UNFUSED, SQZ_PRECISION_FP16},
    Case{SQZ_BACKEND_FUSED, SQZ_PRECISION_FP32}, Case{SQZ_BACKEND_FUSED, SQZ_PRECISION_FP16});

std::string CaseName(const ::testing::TestParamInfo<Case> &info) {
  return std::string(sqz_backend_name(info.param.backend)) + "_" +
         sqz_precision_name(info.param.precision);
}

// The GPU tests skip only when a backend is not built or there is no
// device; any other failure to make an engine fails them (it once read as
// "skipped"). Shown on the emulated device, which can take the device away
// or leave too little memory for an engine (so the test exists only there:
// on a GPU machine every test runs, and scripts/gpu-check.sh counts a skip as
// a failure).
#ifdef SQZ_EMULATED_DEVICE
TEST(GpuTestHelpers, OnlyNoDeviceOrNotBuiltSkips) {
  std::string skip, failure;
  setenv("SQZ_EMU_NO_DEVICE", "1", 1);
  EXPECT_FALSE(sqz_test::BackendUsable(SQZ_BACKEND_FUSED, &skip, &failure));
  unsetenv("SQZ_EMU_NO_DEVICE");
  EXPECT_NE(skip.find("no usable GPU"), std::string::npos) << skip;
  EXPECT_TRUE(failure.empty()) << failure;
  skip.clear();
  setenv("SQZ_EMU_DEVICE_MEMORY", "64K", 1);
  EXPECT_FALSE(sqz_test::BackendUsable(SQZ_BACKEND_FUSED, &skip, &failure));
  unsetenv("SQZ_EMU_DEVICE_MEMORY");
  EXPECT_TRUE(skip.empty()) << skip;
  EXPECT_NE(failure.find("cannot make an engine"), std::string::npos) << failure;
  skip.clear();
  failure.clear();
  EXPECT_FALSE(sqz_test::BackendUsable(SQZ_BACKEND_CUDNN, &skip, &failure));
  EXPECT_NE(skip.find("not built"), std::string::npos) << skip;
  EXPECT_TRUE(failure.empty()) << failure;
}
#endif

class GpuVsCpu : public ::testing::TestWithParam<Case> {};

// Batches per model. On the emulated device (about a second of CPU per
// image) every model runs at 1 and 3, and one model again at 3 with an
// emulated device of 2 SMs, so that the fused planner picks its tall tiles
// (several tiles per image, several images per launch) as it does at large
// batches on 132 SMs.
#ifdef SQZ_EMULATED_DEVICE
const int kBatches[] = {1, 3};
constexpr int kMaxBatch = 3;
#else
const int kBatches[] = {1, 3, 64};
constexpr int kMaxBatch = 64;
#endif

// The input at 224 for kMaxBatch images: one vector for the whole run, so
// that CpuLogits's cache (keyed by its address) is shared and never stale.
const std::vector<float> &Input224() {
  static const std::vector<float> input =
      sqz_test::RandomVector(kMaxBatch * 3 * 224 * 224, 77, -2, 2);
  return input;
}

// `inspect`, when given, looks at the engine once it is made.
void CheckAgainstCpu(const Case &c, const sqz_model *m, const std::vector<float> &input,
                     const char *label, const std::function<void(sqz_engine *)> &inspect = {}) {
  const float tolerance = c.precision == SQZ_PRECISION_FP16 ? 1e-2f : 1e-4f;
  Engine gpu(m, c.backend, c.precision, kMaxBatch);
  if (inspect && gpu.e) inspect(gpu.e);
  for (int batch : kBatches) {
    auto want = CpuLogits(m, input, batch);
    auto got = gpu.Run(input, batch);
    float err = RelativeError(got, want);
    EXPECT_LE(err, tolerance) << label << " batch " << batch;
    ::testing::Test::RecordProperty(std::string(label) + "_b" + std::to_string(batch),
                                    std::to_string(err));
  }
}

TEST_P(GpuVsCpu, AllBuiltinsAtSeveralBatches) {
  const Case c = GetParam();
  SQZ_REQUIRE_BACKEND(c.backend);
  const std::vector<float> &input = Input224();
  for (const char *const *name = sqz_model_builtin_names(); *name; name++) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(*name, 1, &m), SQZ_OK);
    CheckAgainstCpu(c, m, input, *name);
    sqz_model_free(m);
  }
#ifdef SQZ_EMULATED_DEVICE
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 1, &m), SQZ_OK);
  setenv("SQZ_EMU_SM_COUNT", "2", 1);
  CheckAgainstCpu(c, m, input, "squeezenet1_1 on 2 SMs (tall tiles)");
  unsetenv("SQZ_EMU_SM_COUNT");
  sqz_model_free(m);
#endif
}

// Every batch size from 1 to the engine's maximum, on the model with the
// in-place shortcut (complex bypass). cuDNN chooses its algorithms at the
// maximum batch (and tries them at 1); a batch in between that cuDNN
// refuses the choice for, or that needs more workspace, must fall back,
// not fail. At input 64, so that every size is cheap on the emulated device.
TEST_P(GpuVsCpu, EveryBatchUpToTheMaximum) {
  const Case c = GetParam();
  SQZ_REQUIRE_BACKEND(c.backend);
  constexpr int kMax = 7, kSize = 64;
  const float tolerance = c.precision == SQZ_PRECISION_FP16 ? 1e-2f : 1e-4f;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 3, &m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(m, kSize, kSize), SQZ_OK);
  const std::vector<float> input = sqz_test::RandomVector(kMax * 3 * kSize * kSize, 78, -2, 2);
  Engine gpu(m, c.backend, c.precision, kMax);
  ASSERT_NE(gpu.e, nullptr);
  for (int batch = 1; batch <= kMax; batch++) {
    Engine cpu(m, SQZ_BACKEND_CPU, SQZ_PRECISION_FP32, batch);
    EXPECT_LE(RelativeError(gpu.Run(input, batch), cpu.Run(input, batch)), tolerance)
        << "batch " << batch;
  }
  sqz_model_free(m);
}

INSTANTIATE_TEST_SUITE_P(Backends, GpuVsCpu, kEveryBackendAndPrecision, CaseName);

// The cuDNN backend's fallback for a Fire module whose expand cuDNN refuses
// on its concatenation view: both expands into packed scratch, then the
// concat kernel, then the shortcut or bypass. cuDNN takes the views on the
// GPUs tested, so the test hook forces the path on every Fire module (off
// again when the test ends, however it ends). The complex-bypass model has
// both kinds of bypass after the concatenation.
struct ForcePackedExpands {
  ForcePackedExpands() { sqz_cudnn_force_packed_expands(1); }
  ~ForcePackedExpands() { sqz_cudnn_force_packed_expands(0); }
  ForcePackedExpands(const ForcePackedExpands &) = delete;
  ForcePackedExpands &operator=(const ForcePackedExpands &) = delete;
};

TEST(CudnnPackedExpands, ForcedOnEveryFireModuleMatchesTheCpuReference) {
  SQZ_REQUIRE_BACKEND(SQZ_BACKEND_CUDNN);
  ForcePackedExpands force;
  for (const char *name : {"squeezenet1_1", "squeezenet1_0_complex_bypass"}) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(name, 1, &m), SQZ_OK);  // the seed GpuVsCpu uses: cached logits
    int fires = 0;
    size_t largest = 0;  // the largest Fire output of one image, in values
    for (int i = 0; i < sqz_model_num_layers(m); i++) {
      sqz_layer_info l;
      ASSERT_EQ(sqz_model_layer(m, i, &l), SQZ_OK);
      if (l.kind != SQZ_LAYER_FIRE) continue;
      fires++;
      largest = std::max(largest, (size_t)l.out_channels * l.out_height * l.out_width);
    }
    EXPECT_GT(fires, 0) << name;
    const std::string described =
        std::to_string(fires) + " Fire module(s) with packed expands (forced by the test hook";
    for (sqz_precision p : {SQZ_PRECISION_FP32, SQZ_PRECISION_FP16}) {
      const std::string label = std::string(name) + " " + sqz_precision_name(p) + " packed";
      // Both packed expand outputs of the largest module at the maximum
      // batch count as workspace.
      const size_t scratch = largest * kMaxBatch * (p == SQZ_PRECISION_FP16 ? 2 : 4);
      CheckAgainstCpu(Case{SQZ_BACKEND_CUDNN, p}, m, Input224(), label.c_str(), [&](sqz_engine *e) {
        const std::string d = sqz_engine_describe(e);
        EXPECT_NE(d.find(described), std::string::npos) << label << ": " << d;
        sqz_memory_report r;
        ASSERT_EQ(sqz_engine_memory(e, &r), SQZ_OK);
        EXPECT_GE(r.workspace_bytes, scratch) << label;
      });
    }
    sqz_model_free(m);
  }
}

class GpuRealWeights : public ::testing::TestWithParam<Case> {};

// The 100 photographs against the independent framework's logits; quick
// runs (the emulated device's CI, seconds of CPU per photograph and
// backend) take the first 12.
TEST_P(GpuRealWeights, SampleCropsAgainstTheReference) {
  const Case c = GetParam();
  SQZ_REQUIRE_BACKEND(c.backend);
  SQZ_REQUIRE_DATA(data);
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_load((data + "/squeezenet_v1.0_deep_compression.net").c_str(), &m), SQZ_OK);
  auto files = sqz_test::SortedFiles(data + "/imagenet_samples/ppm", ".ppm");
  ASSERT_EQ(files.size(), 100u);
  const int n = sqz_test::QuickRun() ? 12 : 100;
  constexpr size_t kPixels = 227 * 227 * 3, kClasses = 1000;
  std::vector<uint8_t> pixels(n * kPixels);
  for (int i = 0; i < n; i++) {
    sqz_image *img = nullptr;
    ASSERT_EQ(sqz_image_load((data + "/imagenet_samples/ppm/" + files[i]).c_str(), &img), SQZ_OK);
    ASSERT_EQ(sqz_image_prepare(m, img, pixels.data() + i * kPixels), SQZ_OK);
    sqz_image_free(img);
  }
  auto bytes = sqz_test::ReadFile(data + "/imagenet_samples/reference_logits_fp32.bin");
  ASSERT_EQ(bytes.size(), 100 * kClasses * sizeof(float));
  std::vector<float> ref(n * kClasses);
  std::memcpy(ref.data(), bytes.data(), ref.size() * sizeof(float));
  Engine gpu(m, c.backend, c.precision, n);
  std::vector<float> logits(n * kClasses);
  ASSERT_EQ(sqz_engine_run_images(gpu.e, pixels.data(), n, SQZ_OUTPUT_LOGITS, logits.data()),
            SQZ_OK)
      << sqz_last_error();
  int same_top1 = 0;
  for (int i = 0; i < n; i++) {
    auto top = [](const float *r) { return std::max_element(r, r + kClasses) - r; };
    same_top1 += top(&logits[i * kClasses]) == top(&ref[i * kClasses]);
  }
  float err = sqz_test::MaxAbsDiff(logits.data(), ref.data(), ref.size());
  std::printf("%s %s: max |logit - reference| %.3g, top-1 equal on %d/%d\n",
              sqz_backend_name(c.backend), sqz_precision_name(c.precision), err, same_top1, n);
  if (c.precision == SQZ_PRECISION_FP32) {
    EXPECT_LE(err, 1e-3f);
    EXPECT_EQ(same_top1, n);
  } else {
    EXPECT_GE(same_top1, n - 1);  // fp16 may turn one near tie
  }
  sqz_model_free(m);
}

INSTANTIATE_TEST_SUITE_P(Backends, GpuRealWeights, kEveryBackendAndPrecision, CaseName);

class GpuEngine : public ::testing::TestWithParam<sqz_backend> {
 protected:
  void SetUp() override {
    SQZ_REQUIRE_BACKEND(GetParam());
    ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 2, &m_), SQZ_OK);
    // Quick runs (the emulated device's CI) at 64x64: what these tests
    // check (graphs, layouts, streams, threads, memory) does not depend on
    // the size, and 224 costs seconds of CPU per image there.
    if (sqz_test::QuickRun()) ASSERT_EQ(sqz_model_set_input_size(m_, 64, 64), SQZ_OK);
    int channels = 0, width = 0;
    sqz_model_input_shape(m_, &channels, &size_, &width);
    input_ = sqz_test::RandomVector(4 * Pixels(), 5, -2, 2);
  }
  void TearDown() override { sqz_model_free(m_); }
  size_t Pixels() const { return (size_t)3 * size_ * size_; }  // one image's values
  sqz_model *m_ = nullptr;
  int size_ = 0;
  std::vector<float> input_;
};

// One engine (one set of chosen algorithms), its graphs against the same
// launches without a graph (sqz_engine_profile runs layer by layer).
TEST_P(GpuEngine, GraphsOnAndOffGiveIdenticalResults) {
  for (sqz_precision p : {SQZ_PRECISION_FP32, SQZ_PRECISION_FP16}) {
    Engine e(m_, GetParam(), p, 4, true);
    std::vector<float> plain(4000), layer_ms(sqz_model_num_layers(m_));
    for (int batch : {4, 1, 4}) {  // capture, another size, replay
      auto graphed = e.Run(input_, batch);
      sqz_io io = {batch, SQZ_INPUT_F32_NCHW, input_.data(), SQZ_OUTPUT_LOGITS, plain.data()};
      ASSERT_EQ(sqz_engine_profile(e.e, &io, layer_ms.data()), SQZ_OK) << sqz_last_error();
      EXPECT_EQ(graphed, std::vector<float>(plain.begin(), plain.begin() + batch * 1000))
          << sqz_precision_name(p) << " batch " << batch;
    }
  }
  // An engine with graphs off gives the same within rounding (its own
  // algorithm choice may differ).
  Engine with(m_, GetParam(), SQZ_PRECISION_FP32, 4, true),
      without(m_, GetParam(), SQZ_PRECISION_FP32, 4, false);
  EXPECT_LE(RelativeError(with.Run(input_, 4), without.Run(input_, 4)), 1e-5f);
}

TEST_P(GpuEngine, LayoutsDevicePointersPinnedMemoryAndStreams) {
  Engine e(m_, GetParam(), SQZ_PRECISION_FP32, 4);
  auto want = e.Run(input_, 4);
  // NHWC input.
  std::vector<float> nhwc(input_.size());
  const size_t plane = (size_t)size_ * size_;
  for (int n = 0; n < 4; n++)
    for (int c = 0; c < 3; c++)
      for (size_t p = 0; p < plane; p++)
        nhwc[(n * plane + p) * 3 + c] = input_[(n * 3 + c) * plane + p];
  EXPECT_EQ(e.Run(nhwc, 4, SQZ_LAYOUT_NHWC), want);
  // Device input and output, on the caller's stream.
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_EQ(sqz_engine_set_stream(e.e, stream), SQZ_OK);
  float *din = nullptr, *dout = nullptr;
  ASSERT_EQ(cudaMalloc((void **)&din, input_.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void **)&dout, 4000 * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(din, input_.data(), input_.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  sqz_io io = {4, SQZ_INPUT_F32_NCHW, din, SQZ_OUTPUT_LOGITS, dout};
  ASSERT_EQ(sqz_engine_run_async(e.e, &io), SQZ_OK) << sqz_last_error();
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);  // the caller's stream is enough
  std::vector<float> got(4000);
  ASSERT_EQ(cudaMemcpy(got.data(), dout, 4000 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, want);
  // Pinned host memory.
  float *pin_in = nullptr, *pin_out = nullptr;
  ASSERT_EQ(cudaMallocHost((void **)&pin_in, input_.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMallocHost((void **)&pin_out, 4000 * 4), cudaSuccess);
  std::memcpy(pin_in, input_.data(), input_.size() * 4);
  io = {4, SQZ_INPUT_F32_NCHW, pin_in, SQZ_OUTPUT_LOGITS, pin_out};
  ASSERT_EQ(sqz_engine_run_async(e.e, &io), SQZ_OK);
  ASSERT_EQ(sqz_engine_synchronize(e.e), SQZ_OK);
  EXPECT_EQ(std::vector<float>(pin_out, pin_out + 4000), want);
  ASSERT_EQ(sqz_engine_set_stream(e.e, nullptr), SQZ_OK);
  EXPECT_EQ(e.Run(input_, 4), want);
  cudaFreeHost(pin_in);
  cudaFreeHost(pin_out);
  cudaFree(din);
  cudaFree(dout);
  cudaStreamDestroy(stream);
}

TEST_P(GpuEngine, TwoThreadsTwoEnginesTwoStreamsMatchSequentialRuns) {
  Engine a(m_, GetParam(), SQZ_PRECISION_FP32, 4), b(m_, GetParam(), SQZ_PRECISION_FP32, 4);
  std::vector<float> other = sqz_test::RandomVector(input_.size(), 6, -2, 2);
  auto want_a = a.Run(input_, 4), want_b = b.Run(other, 4);
  std::vector<float> got_a(4000), got_b(4000);
#ifdef SQZ_EMULATED_DEVICE
  const int rounds = 3;  // each run is seconds of CPU here
#else
  const int rounds = 20;
#endif
  std::thread ta([&] {
    for (int r = 0; r < rounds; r++)
      ASSERT_EQ(
          sqz_engine_run(a.e, input_.data(), 4, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, got_a.data()),
          SQZ_OK);
  });
  std::thread tb([&] {
    for (int r = 0; r < rounds; r++)
      ASSERT_EQ(
          sqz_engine_run(b.e, other.data(), 4, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, got_b.data()),
          SQZ_OK);
  });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
}

// The caller's stream: the legacy stream and a capturing stream are
// refused; a failed set_stream leaves the engine on its stream; a caller
// may capture run_async into a graph of its own (graphs off, device
// memory), and the graph replays what a plain run gives.
TEST_P(GpuEngine, CallerStreamsAreCheckedAndRunsCanBeCapturedIntoTheirGraphs) {
  sqz_engine_options o = sqz_engine_options_default();
  o.backend = GetParam();
  o.max_batch = 1;
  o.cuda_graphs = 0;
  sqz_engine *refused = nullptr;
  o.stream = (void *)cudaStreamLegacy;
  EXPECT_EQ(sqz_engine_create(m_, &o, &refused), SQZ_ERR_INVALID_ARGUMENT);
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  o.stream = s;
  EXPECT_EQ(sqz_engine_create(m_, &o, &refused), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("capturing"), std::string::npos);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphDestroy(graph);

  Engine e(m_, GetParam(), SQZ_PRECISION_FP32, 1, false, s);
  auto want = e.Run(input_, 1);
  EXPECT_EQ(sqz_engine_set_stream(e.e, (void *)cudaStreamLegacy), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sqz_engine_stream(e.e), (void *)s);

  float *din = nullptr, *dout = nullptr;
  ASSERT_EQ(cudaMalloc((void **)&din, Pixels() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void **)&dout, 1000 * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(din, input_.data(), Pixels() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<float> pageable(1000);
  sqz_io staged = {1, SQZ_INPUT_F32_NCHW, input_.data(), SQZ_OUTPUT_LOGITS, pageable.data()};
  sqz_io on_device = {1, SQZ_INPUT_F32_NCHW, din, SQZ_OUTPUT_LOGITS, dout};
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(sqz_engine_run_async(e.e, &staged), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("pageable"), std::string::npos);
  EXPECT_EQ(sqz_engine_run_async(e.e, &on_device), SQZ_OK) << sqz_last_error();
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(dout, 0, 1000 * 4, s), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  std::vector<float> got(1000);
  ASSERT_EQ(cudaMemcpy(got.data(), dout, 1000 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, want);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  // An engine with graphs of its own refuses a capturing stream.
  Engine graphed(m_, GetParam(), SQZ_PRECISION_FP32, 1, true, s);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(sqz_engine_run_async(graphed.e, &on_device), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("cuda_graphs = 0"), std::string::npos);
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphDestroy(graph);
  EXPECT_EQ(e.Run(input_, 1), want);  // and the first engine still runs on s
  cudaFree(din);
  cudaFree(dout);
}

// Pageable input goes through pinned staging of bounded size, in pieces:
// halves of a little over a third of a batch of 2, so the batch takes
// three pieces.
TEST_P(GpuEngine, PageableInputGoesThroughBoundedStagingInPieces) {
  const size_t n = 2 * Pixels(), half = (n * 4 / 3 / 256 + 1) * 256;
  ASSERT_GT(3 * half, n * 4);
  ASSERT_LT(2 * half, n * 4);
  sqz_debug_set_staging_half_max(half);
  Engine e(m_, GetParam(), SQZ_PRECISION_FP32, 2);
  sqz_debug_set_staging_half_max(0);
  sqz_memory_report r;
  ASSERT_EQ(sqz_engine_memory(e.e, &r), SQZ_OK);
  EXPECT_EQ(r.staging_bytes, 2 * half + 2 * 1000 * 4);
  float *din = nullptr;
  ASSERT_EQ(cudaMalloc((void **)&din, n * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(din, input_.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<float> want(2000), got(2000);
  ASSERT_EQ(sqz_engine_run(e.e, din, 2, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, want.data()), SQZ_OK);
  for (int round = 0; round < 2; round++) {  // twice: the halves are reused
    ASSERT_EQ(sqz_engine_run(e.e, input_.data(), 2, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, got.data()),
              SQZ_OK)
        << sqz_last_error();
    EXPECT_EQ(got, want);
  }
  cudaFree(din);
}

TEST_P(GpuEngine, RefusedArguments) {
  Engine e(m_, GetParam(), SQZ_PRECISION_FP32, 2);
  std::vector<float> out(3000);
  EXPECT_EQ(sqz_engine_run(e.e, input_.data(), 3, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
            SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("max_batch"), std::string::npos);
  EXPECT_EQ(sqz_engine_run(e.e, nullptr, 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
            SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sqz_engine_run(e.e, input_.data(), 1, (sqz_layout)3, SQZ_OUTPUT_LOGITS, out.data()),
            SQZ_ERR_INVALID_ARGUMENT);
  // The engine still works after refusals.
  EXPECT_EQ(sqz_engine_run(e.e, input_.data(), 2, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, out.data()),
            SQZ_OK);
}

TEST_P(GpuEngine, FailingDeviceAllocationsLeakNothing) {
  {
    // One engine made and freed first: libraries load their kernels on
    // first use and keep them, which is not a leak.
    Engine warm(m_, GetParam(), SQZ_PRECISION_FP32, 8);
    warm.Run(input_, 1);
  }
  size_t free_before = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  int failures = 0;
  for (long n = 1; n < 200; n++) {
    sqz_debug_fail_alloc_after(n);
    sqz_engine_options o = sqz_engine_options_default();
    o.backend = GetParam();
    o.max_batch = 8;
    sqz_engine *e = nullptr;
    sqz_status st = sqz_engine_create(m_, &o, &e);
    sqz_debug_fail_alloc_after(0);
    if (st == SQZ_OK) {
      sqz_engine_free(e);
      break;
    }
    failures++;
    ASSERT_EQ(st, SQZ_ERR_OUT_OF_MEMORY) << sqz_last_error();
    ASSERT_EQ(e, nullptr);
  }
  EXPECT_GT(failures, 2);
  size_t free_after = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  // Within 4 MiB: the driver's own bookkeeping may move a little.
  EXPECT_LE(free_before - std::min(free_before, free_after), (size_t)4 << 20);
  Engine ok(m_, GetParam(), SQZ_PRECISION_FP32, 2);
  EXPECT_EQ(ok.Run(input_, 2).size(), 2000u);
}

TEST_P(GpuEngine, MemoryIsPlannedByLiveness) {
  Engine e(m_, GetParam(), SQZ_PRECISION_FP16, 64);
  sqz_memory_report r;
  ASSERT_EQ(sqz_engine_memory(e.e, &r), SQZ_OK);
  size_t every_layer = 0;
  for (int i = 0; i < sqz_model_num_layers(m_); i++) {
    sqz_layer_info l;
    sqz_model_layer(m_, i, &l);
    every_layer += (size_t)l.out_channels * l.out_height * l.out_width * 64 * 2;
  }
  EXPECT_GT(r.weight_bytes, sqz_model_param_count(m_) * 2);
  EXPECT_LT(r.activation_bytes, every_layer / 2);
  std::printf("%s fp16 batch 64: weights %zu, activations %zu, workspace %zu, staging %zu bytes\n",
              sqz_backend_name(GetParam()), r.weight_bytes, r.activation_bytes, r.workspace_bytes,
              r.staging_bytes);
  std::printf("%s\n", sqz_engine_describe(e.e));
}

TEST_P(GpuEngine, EnginesOfOneModelShareTheirWeights) {
  Engine a(m_, GetParam(), SQZ_PRECISION_FP32, 1), b(m_, GetParam(), SQZ_PRECISION_FP32, 2);
  Engine half(m_, GetParam(), SQZ_PRECISION_FP16, 1);
  const void *wa = static_cast<sqz_gpu_engine *>(a.e->impl)->weights;
  const void *wb = static_cast<sqz_gpu_engine *>(b.e->impl)->weights;
  const void *wh = static_cast<sqz_gpu_engine *>(half.e->impl)->weights;
  EXPECT_EQ(wa, wb);
  EXPECT_NE(wa, wh);  // another packing: its own copy
  EXPECT_EQ(sqz_shared_weights_refs(wa), 2);
  // The shared copy gives the same results as a lone engine's.
  auto ra = a.Run(input_, 1), rb = b.Run(input_, 1);
  EXPECT_LE(RelativeError(ra, rb), 1e-5f);
}

INSTANTIATE_TEST_SUITE_P(Backends, GpuEngine,
                         ::testing::Values(SQZ_BACKEND_CUDNN, SQZ_BACKEND_UNFUSED,
                                           SQZ_BACKEND_FUSED),
                         [](const ::testing::TestParamInfo<sqz_backend> &info) {
                           return std::string(sqz_backend_name(info.param));
                         });

}  // namespace
