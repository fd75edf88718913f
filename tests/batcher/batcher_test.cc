// The dynamic batcher: many threads of mixed requests, each result equal to
// a direct single-image run of the same engine kind, none lost or
// duplicated; batch formation (delay, preferred sizes); deadlines; a full
// queue; closing and freeing with requests in flight; engine errors and
// allocation failures. Run for the cpu backend, and for the GPU backends
// where there is a device (the emulated one included).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/test_util.h"
#include "gpu/gpu_util.h"
#include "runtime/alloc.h"
#include "runtime/batcher.h"
#include "sqz.h"

namespace {

constexpr int kSize = 16;    // TinyModel input: 3 x 16 x 16
constexpr int kClasses = 5;  // TinyModel's classes
constexpr size_t kFloats = 3 * kSize * kSize;
constexpr size_t kBytes = kSize * kSize * 3;

// A PPM file of the given pixels, as a client would send it.
std::vector<uint8_t> EncodePpm(const uint8_t *rgb, int w, int h) {
  std::string header = "P6\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.insert(out.end(), rgb, rgb + (size_t)w * h * 3);
  return out;
}

// A gate that blocks callbacks until opened, to hold a worker busy.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> l(m_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return open_; });
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(m_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false, entered_ = false;
};

// A client's requests in flight, bounded; waiting blocks instead of spinning
// (spinning clients would starve the workers on a small machine).
class Slots {
 public:
  explicit Slots(int max) : max_(max) {}
  void Acquire() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return used_ < max_; });
    used_++;
  }
  void Release() {
    std::lock_guard<std::mutex> l(m_);
    used_--;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int used_ = 0;
  const int max_;
};

// Completion records: per request, how often it completed and with what.
struct Record {
  std::atomic<int> calls{0};
  std::atomic<int> status{-1};
  Gate *gate = nullptr;
  Slots *slots = nullptr;
};

void RecordDone(void *user, sqz_status status, const char *message) {
  auto *r = static_cast<Record *>(user);
  EXPECT_NE(message, nullptr);
  if (status != SQZ_OK) EXPECT_STRNE(message, "");
  r->status.store(status);
  r->calls.fetch_add(1);
  if (r->slots) r->slots->Release();
  if (r->gate) r->gate->Wait();
}

class BatcherTest : public ::testing::TestWithParam<sqz_backend> {
 protected:
  void SetUp() override {
    if (GetParam() != SQZ_BACKEND_CPU) SQZ_REQUIRE_BACKEND(GetParam());
    model_ = sqz_test::TinyModel(kSize, SQZ_BYPASS_SIMPLE, 5);
    ASSERT_NE(model_, nullptr);
    // Distinct inputs of every kind, and their direct single-image results.
    sqz_engine_options eo = EngineOptions();
    eo.max_batch = 1;
    ASSERT_EQ(sqz_engine_create(model_, &eo, &direct_), SQZ_OK) << sqz_last_error();
    for (int i = 0; i < kInputs; i++) {
      nchw_.push_back(sqz_test::RandomVector(kFloats, 100 + i, -2, 2));
      std::vector<float> nhwc(kFloats);
      for (size_t c = 0; c < 3; c++)
        for (size_t p = 0; p < kSize * kSize; p++)
          nhwc[p * 3 + c] = nchw_[i][c * kSize * kSize + p];
      nhwc_.push_back(nhwc);
      std::vector<uint8_t> rgb(kBytes);
      for (size_t k = 0; k < kBytes; k++) rgb[k] = (uint8_t)((k * 7 + i * 31) % 256);
      u8_.push_back(rgb);
      // Encoded at twice the size: the batcher's decode must resize and crop.
      std::vector<uint8_t> big(4 * kBytes);
      for (size_t k = 0; k < big.size(); k++) big[k] = (uint8_t)((k * 13 + i * 17) % 256);
      encoded_.push_back(EncodePpm(big.data(), 2 * kSize, 2 * kSize));
      want_.push_back(Direct(SQZ_REQUEST_F32_NCHW, i));
      want_.push_back(Direct(SQZ_REQUEST_F32_NHWC, i));
      want_.push_back(Direct(SQZ_REQUEST_U8_RGB, i));
      want_.push_back(Direct(SQZ_REQUEST_ENCODED, i));
    }
  }
  void TearDown() override {
    sqz_batcher_free(batcher_);
    sqz_engine_free(direct_);
    sqz_model_free(model_);
  }

  sqz_engine_options EngineOptions() const {
    sqz_engine_options o = sqz_engine_options_default();
    o.backend = GetParam();
    o.cpu_threads = 1;
    return o;
  }
  bool Emulated() const { return GetParam() != SQZ_BACKEND_CPU; }

  // The output of one image run alone on the direct engine.
  std::vector<float> Direct(sqz_request_kind kind, int i) {
    std::vector<float> out(kClasses);
    sqz_status st = SQZ_OK;
    switch (kind) {
      case SQZ_REQUEST_F32_NCHW:
        st = sqz_engine_run(direct_, nchw_[i].data(), 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_PROBS,
                            out.data());
        break;
      case SQZ_REQUEST_F32_NHWC:
        st = sqz_engine_run(direct_, nhwc_[i].data(), 1, SQZ_LAYOUT_NHWC, SQZ_OUTPUT_PROBS,
                            out.data());
        break;
      case SQZ_REQUEST_U8_RGB:
        st = sqz_engine_run_images(direct_, u8_[i].data(), 1, SQZ_OUTPUT_PROBS, out.data());
        break;
      case SQZ_REQUEST_ENCODED: {
        sqz_image *image = nullptr;
        EXPECT_EQ(sqz_image_decode(encoded_[i].data(), encoded_[i].size(), &image), SQZ_OK);
        std::vector<uint8_t> prepared(kBytes);
        EXPECT_EQ(sqz_image_prepare(model_, image, prepared.data()), SQZ_OK);
        sqz_image_free(image);
        st = sqz_engine_run_images(direct_, prepared.data(), 1, SQZ_OUTPUT_PROBS, out.data());
        break;
      }
    }
    EXPECT_EQ(st, SQZ_OK) << sqz_last_error();
    return out;
  }

  sqz_request Request(sqz_request_kind kind, int i, float *output, Record *record) const {
    sqz_request r{};
    r.kind = kind;
    switch (kind) {
      case SQZ_REQUEST_F32_NCHW:
        r.data = nchw_[i].data();
        r.size = kFloats * sizeof(float);
        break;
      case SQZ_REQUEST_F32_NHWC:
        r.data = nhwc_[i].data();
        r.size = kFloats * sizeof(float);
        break;
      case SQZ_REQUEST_U8_RGB:
        r.data = u8_[i].data();
        r.size = kBytes;
        break;
      case SQZ_REQUEST_ENCODED:
        r.data = encoded_[i].data();
        r.size = encoded_[i].size();
        break;
    }
    r.output = output;
    r.done = RecordDone;
    r.user_data = record;
    return r;
  }
  const std::vector<float> &Want(sqz_request_kind kind, int i) const {
    return want_[(size_t)i * 4 + kind];
  }

  sqz_batcher_options Options(int instances, int max_batch, int delay_us, int queue) const {
    sqz_batcher_options o = sqz_batcher_options_default();
    o.engine = EngineOptions();
    o.instances = instances;
    o.max_batch = max_batch;
    o.max_delay_us = delay_us;
    o.max_queue = queue;
    return o;
  }
  void Create(const sqz_batcher_options &o) {
    ASSERT_EQ(sqz_batcher_create(model_, &o, &batcher_), SQZ_OK) << sqz_last_error();
  }
  // Submits a request whose callback blocks on gate, and waits until the
  // worker is inside it: that worker is then busy until the gate opens.
  void HoldWorker(Gate *gate, Record *record, float *output) {
    record->gate = gate;
    sqz_request r = Request(SQZ_REQUEST_F32_NCHW, 0, output, record);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK) << sqz_last_error();
    gate->WaitEntered();
  }
  sqz_batcher_stats Stats() const {
    sqz_batcher_stats s{};
    EXPECT_EQ(sqz_batcher_get_stats(batcher_, &s), SQZ_OK);
    return s;
  }

  static constexpr int kInputs = 16;
  sqz_model *model_ = nullptr;
  sqz_engine *direct_ = nullptr;
  sqz_batcher *batcher_ = nullptr;
  std::vector<std::vector<float>> nchw_, nhwc_, want_;
  std::vector<std::vector<uint8_t>> u8_, encoded_;
};

TEST_P(BatcherTest, ManyThreadsOfMixedRequestsEachCompleteOnceWithTheDirectResult) {
  // The emulated device runs kernels thread by thread: fewer requests there
  // (and fewer again under SQZ_TEST_QUICK, the sanitizer runs).
  const int threads = 8, in_flight = 12;
  const int per_thread = !Emulated() ? 1000 : sqz_test::QuickRun() ? 8 : 40;
  // A queue smaller than the requests in flight, so that full-queue refusals
  // happen and are retried.
  Create(Options(2, 8, 200, 48));
  const int total = threads * per_thread;
  std::vector<Record> records(total);
  std::vector<float> outputs((size_t)total * kClasses, -1.0f);
  std::atomic<long> refusals{0};
  auto client = [&](int t) {
    Slots slots(in_flight);  // at most in_flight of this thread's requests outstanding
    for (int k = 0; k < per_thread; k++) {
      const int id = t * per_thread + k;
      const auto kind = (sqz_request_kind)((id / 3 + t) % 4);
      const int input = id % kInputs;
      float *out = &outputs[(size_t)id * kClasses];
      sqz_request r = Request(kind, input, out, &records[id]);
      const bool wait = k % 10 == 9;  // some callers wait for their answer
      if (!wait) {
        records[id].slots = &slots;
        slots.Acquire();
      }
      for (;;) {
        sqz_status st = wait ? sqz_batcher_infer(batcher_, &r) : sqz_batcher_submit(batcher_, &r);
        if (st == SQZ_OK) break;
        ASSERT_EQ(st, SQZ_ERR_QUEUE_FULL) << sqz_last_error();
        refusals++;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    // The slots live on this stack: wait until every callback has released.
    for (int k = 0; k < in_flight; k++) slots.Acquire();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) pool.emplace_back(client, t);
  for (auto &th : pool) th.join();
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);

  int wrong = 0;
  for (int id = 0; id < total; id++) {
    // infer's requests report through sqz_batcher_infer, not the record.
    const bool waited = (id % per_thread) % 10 == 9;
    if (!waited) {
      ASSERT_EQ(records[id].calls.load(), 1) << "request " << id;
      ASSERT_EQ(records[id].status.load(), SQZ_OK) << "request " << id;
    }
    const int t = id / per_thread;
    const auto kind = (sqz_request_kind)((id / 3 + t) % 4);
    const std::vector<float> &want = Want(kind, id % kInputs);
    if (std::memcmp(want.data(), &outputs[(size_t)id * kClasses], sizeof(float) * kClasses) != 0)
      wrong++;
  }
  EXPECT_EQ(wrong, 0) << "results not bit-identical to a direct single-image run";

  sqz_batcher_stats s = Stats();
  EXPECT_EQ(s.accepted, (uint64_t)total);
  EXPECT_EQ(s.succeeded, (uint64_t)total);
  EXPECT_EQ(s.refused, (uint64_t)refusals.load());
  EXPECT_EQ(s.failed + s.timed_out + s.cancelled, 0u);
  EXPECT_EQ(s.queued + s.running, 0);
  std::vector<uint64_t> sizes(10);
  ASSERT_EQ(sqz_batcher_batch_sizes(batcher_, sizes.data(), 10), SQZ_OK);
  uint64_t batches = 0, images = 0;
  for (int k = 0; k < 10; k++) {
    batches += sizes[k];
    images += sizes[k] * k;
  }
  EXPECT_EQ(sizes[0], 0u);
  EXPECT_EQ(sizes[9], 0u) << "no batch above max_batch 8";
  EXPECT_EQ(batches, s.batches);
  EXPECT_EQ(images, (uint64_t)total);
  EXPECT_LT(s.batches, (uint64_t)total) << "requests were never batched together";
  EXPECT_GT(s.run_us_p50, 0.0);
  EXPECT_GE(s.run_us_p99, s.run_us_p50);
  EXPECT_GE(s.queue_us_p99, s.queue_us_p50);
}

TEST_P(BatcherTest, WaitsOutTheDelayThenSendsWhatIsQueued) {
  Create(Options(1, 8, 100000, 16));  // 100 ms: the three arrive well within it
  std::vector<Record> records(3);
  std::vector<float> out(3 * kClasses);
  for (int i = 0; i < 3; i++) {
    sqz_request r = Request(SQZ_REQUEST_U8_RGB, i, &out[i * kClasses], &records[i]);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  const auto start = std::chrono::steady_clock::now();
  while (records[2].calls.load() == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(80))
      << "the batch was sent before its delay";
  uint64_t sizes[9] = {};
  ASSERT_EQ(sqz_batcher_batch_sizes(batcher_, sizes, 9), SQZ_OK);
  EXPECT_EQ(sizes[3], 1u) << "the three requests formed one batch";
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(records[i].status.load(), SQZ_OK);
    EXPECT_EQ(std::memcmp(&out[i * kClasses], Want(SQZ_REQUEST_U8_RGB, i).data(),
                          sizeof(float) * kClasses),
              0);
  }
}

TEST_P(BatcherTest, PreferredSizeIsSentWithoutWaiting) {
  sqz_batcher_options o = Options(1, 8, 30000000, 16);  // a delay of 30 s
  o.preferred_batch_sizes[0] = 2;
  o.preferred_batch_sizes[1] = 4;
  Create(o);
  Gate gate;
  Record held;
  std::vector<float> held_out(kClasses);
  // The first two are a preferred batch: sent at once, then held in the callback.
  std::vector<Record> records(7);
  std::vector<float> out(7 * kClasses);
  held.gate = &gate;
  sqz_request first = Request(SQZ_REQUEST_F32_NCHW, 0, held_out.data(), &held);
  sqz_request second = Request(SQZ_REQUEST_F32_NCHW, 1, &out[0], &records[0]);
  ASSERT_EQ(sqz_batcher_submit(batcher_, &first), SQZ_OK);
  ASSERT_EQ(sqz_batcher_submit(batcher_, &second), SQZ_OK);
  gate.WaitEntered();
  // Five more while the worker is held: it takes 4 (the largest preferred
  // size that fits), then 1 only when the batcher closes.
  for (int i = 1; i < 6; i++) {
    sqz_request r = Request(SQZ_REQUEST_F32_NCHW, i, &out[i * kClasses], &records[i]);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  gate.Open();
  const auto start = std::chrono::steady_clock::now();
  while (records[4].calls.load() == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(records[4].calls.load(), 1) << "the batch of 4 was not sent at once";
  EXPECT_EQ(records[5].calls.load(), 0) << "the fifth waits for its delay";
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);
  uint64_t sizes[9] = {};
  ASSERT_EQ(sqz_batcher_batch_sizes(batcher_, sizes, 9), SQZ_OK);
  EXPECT_EQ(sizes[2], 1u);
  EXPECT_EQ(sizes[4], 1u);
  EXPECT_EQ(sizes[1], 1u);
  for (int i = 0; i < 6; i++) EXPECT_EQ(records[i].status.load(), SQZ_OK) << i;
}

TEST_P(BatcherTest, RequestsNotStartedInTimeTimeOut) {
  Create(Options(1, 4, 0, 16));
  Gate gate;
  Record held;
  std::vector<float> held_out(kClasses);
  HoldWorker(&gate, &held, held_out.data());
  std::vector<Record> records(4);
  std::vector<float> out(4 * kClasses, -1.0f);
  for (int i = 0; i < 4; i++) {
    sqz_request r = Request(SQZ_REQUEST_F32_NCHW, i, &out[i * kClasses], &records[i]);
    r.timeout_us = i < 2 ? 1000 : 0;  // two with a 1 ms limit, two without
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  gate.Open();
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);
  for (int i = 0; i < 4; i++) EXPECT_EQ(records[i].calls.load(), 1) << i;
  EXPECT_EQ(records[0].status.load(), SQZ_ERR_TIMEOUT);
  EXPECT_EQ(records[1].status.load(), SQZ_ERR_TIMEOUT);
  EXPECT_EQ(records[2].status.load(), SQZ_OK);
  EXPECT_EQ(records[3].status.load(), SQZ_OK);
  EXPECT_EQ(out[0], -1.0f) << "a timed-out request's output is not written";
  sqz_batcher_stats s = Stats();
  EXPECT_EQ(s.timed_out, 2u);
  EXPECT_EQ(s.succeeded, 3u);
}

TEST_P(BatcherTest, AFullQueueRefusesAtOnce) {
  Create(Options(1, 1, 0, 3));
  Gate gate;
  Record held;
  std::vector<float> held_out(kClasses);
  HoldWorker(&gate, &held, held_out.data());
  std::vector<Record> records(4);
  std::vector<float> out(4 * kClasses);
  for (int i = 0; i < 3; i++) {
    sqz_request r = Request(SQZ_REQUEST_U8_RGB, i, &out[i * kClasses], &records[i]);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  sqz_request r = Request(SQZ_REQUEST_U8_RGB, 3, &out[3 * kClasses], &records[3]);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_ERR_QUEUE_FULL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_NE(std::string(sqz_last_error()).find("queue is full"), std::string::npos)
      << sqz_last_error();
  EXPECT_EQ(Stats().queued, 3);
  gate.Open();
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);
  for (int i = 0; i < 3; i++) EXPECT_EQ(records[i].status.load(), SQZ_OK);
  EXPECT_EQ(records[3].calls.load(), 0) << "a refused request is never completed";
  EXPECT_EQ(Stats().refused, 1u);
}

TEST_P(BatcherTest, CloseWithoutDrainCancelsWhatIsQueuedOnce) {
  Create(Options(1, 2, 0, 16));
  Gate gate;
  Record held;
  std::vector<float> held_out(kClasses);
  HoldWorker(&gate, &held, held_out.data());
  std::vector<Record> records(5);
  std::vector<float> out(5 * kClasses);
  for (int i = 0; i < 5; i++) {
    sqz_request r = Request(SQZ_REQUEST_F32_NHWC, i, &out[i * kClasses], &records[i]);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  // Close on another thread: it must wait for the held request.
  std::thread closer([&] { EXPECT_EQ(sqz_batcher_close(batcher_, 0), SQZ_OK); });
  while (records[4].calls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  gate.Open();
  closer.join();
  EXPECT_EQ(held.calls.load(), 1);
  EXPECT_EQ(held.status.load(), SQZ_OK);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(records[i].calls.load(), 1) << i;
    EXPECT_EQ(records[i].status.load(), SQZ_ERR_CANCELLED) << i;
  }
  Record late;
  sqz_request r = Request(SQZ_REQUEST_F32_NCHW, 0, &out[0], &late);
  EXPECT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_ERR_CANCELLED);
  EXPECT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK) << "closing twice is allowed";
  EXPECT_EQ(late.calls.load(), 0);
  EXPECT_EQ(Stats().cancelled, 5u);
}

TEST_P(BatcherTest, FreeWithRequestsInFlightRunsThemAll) {
  Create(Options(2, 4, 1000, 64));
  std::vector<Record> records(40);
  std::vector<float> out(40 * kClasses);
  for (int i = 0; i < 40; i++) {
    sqz_request r =
        Request((sqz_request_kind)(i % 4), i % kInputs, &out[i * kClasses], &records[i]);
    ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  }
  sqz_batcher_free(batcher_);
  batcher_ = nullptr;
  for (int i = 0; i < 40; i++) {
    ASSERT_EQ(records[i].calls.load(), 1) << i;
    EXPECT_EQ(records[i].status.load(), SQZ_OK) << i;
    EXPECT_EQ(std::memcmp(&out[i * kClasses], Want((sqz_request_kind)(i % 4), i % kInputs).data(),
                          sizeof(float) * kClasses),
              0)
        << i;
  }
}

TEST_P(BatcherTest, AFailedBatchFailsOnlyItsRequests) {
  Create(Options(1, 4, 0, 16));
  sqz_debug_batcher_fail_runs(batcher_, 2);
  std::vector<float> out(kClasses);
  for (int i = 0; i < 4; i++) {
    Record rec;
    sqz_request r = Request(SQZ_REQUEST_F32_NCHW, i, out.data(), &rec);
    sqz_status st = sqz_batcher_infer(batcher_, &r);
    if (i < 2) {
      EXPECT_EQ(st, SQZ_ERR_DEVICE) << i;
      EXPECT_NE(std::string(sqz_last_error()).find("injected engine failure"), std::string::npos)
          << sqz_last_error();
    } else {
      EXPECT_EQ(st, SQZ_OK) << sqz_last_error();
      EXPECT_EQ(std::memcmp(out.data(), Want(SQZ_REQUEST_F32_NCHW, i).data(), sizeof(float) * 5),
                0);
    }
    EXPECT_EQ(rec.calls.load(), 0) << "infer completes through its own waiter";
  }
  sqz_batcher_stats s = Stats();
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.succeeded, 2u);
  EXPECT_EQ(s.batches, 4u);
}

void InferFromCallback(void *user, sqz_status, const char *) {
  auto *args = static_cast<std::pair<sqz_batcher *, std::atomic<int> *> *>(user);
  sqz_request r{};
  sqz_status st = sqz_batcher_infer(args->first, &r);
  sqz_status close = sqz_batcher_close(args->first, 1);
  args->second->store(st == SQZ_ERR_INVALID_ARGUMENT && close == SQZ_ERR_INVALID_ARGUMENT ? 1 : 2);
}

TEST_P(BatcherTest, ACallbackCannotWaitOnItsOwnWorker) {
  Create(Options(1, 1, 0, 4));
  std::atomic<int> seen{0};
  std::pair<sqz_batcher *, std::atomic<int> *> args{batcher_, &seen};
  std::vector<float> out(kClasses);
  sqz_request r = Request(SQZ_REQUEST_F32_NCHW, 0, out.data(), nullptr);
  r.done = InferFromCallback;
  r.user_data = &args;
  ASSERT_EQ(sqz_batcher_submit(batcher_, &r), SQZ_OK);
  ASSERT_EQ(sqz_batcher_close(batcher_, 1), SQZ_OK);
  EXPECT_EQ(seen.load(), 1) << "infer and close from a callback must be refused";
}

TEST_P(BatcherTest, BadRequestsAndOptionsAreRefused) {
  Create(Options(1, 2, 0, 4));
  std::vector<float> out(kClasses);
  Record rec;
  auto submit = [&](sqz_request r) { return sqz_batcher_submit(batcher_, &r); };
  sqz_request good = Request(SQZ_REQUEST_F32_NCHW, 0, out.data(), &rec);
  sqz_request r = good;
  r.size -= 4;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("bytes"), std::string::npos) << sqz_last_error();
  r = good;
  r.data = nullptr;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  r = good;
  r.output = nullptr;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  r = good;
  r.done = nullptr;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  r = good;
  r.kind = (sqz_request_kind)7;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  r = good;
  r.timeout_us = -1;
  EXPECT_EQ(submit(r), SQZ_ERR_INVALID_ARGUMENT);
  // A corrupt and a truncated image.
  std::vector<uint8_t> junk(100, 0x5a);
  r = Request(SQZ_REQUEST_ENCODED, 0, out.data(), &rec);
  r.data = junk.data();
  r.size = junk.size();
  EXPECT_EQ(submit(r), SQZ_ERR_FORMAT);
  r = Request(SQZ_REQUEST_ENCODED, 0, out.data(), &rec);
  r.size /= 2;
  EXPECT_EQ(submit(r), SQZ_ERR_FORMAT) << sqz_last_error();
  EXPECT_EQ(rec.calls.load(), 0);
  EXPECT_EQ(Stats().refused, 8u);
  // The batcher still serves.
  EXPECT_EQ(sqz_batcher_infer(batcher_, &good), SQZ_OK) << sqz_last_error();

  sqz_batcher *b = nullptr;
  sqz_batcher_options o = Options(0, 2, 0, 4);
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  o = Options(1, 0, 0, 4);
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  o = Options(1, 2, -1, 4);
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  o = Options(1, 2, 0, 0);
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  o = Options(1, 2, 0, 4);
  o.preferred_batch_sizes[0] = 3;
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("max_batch"), std::string::npos);
  o = Options(1, 2, 0, 4);
  o.preferred_batch_sizes[1] = 1;
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  o = Options(1, 2, 0, 4);
  o.engine.stream = &o;
  EXPECT_EQ(sqz_batcher_create(model_, &o, &b), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(b, nullptr);
  EXPECT_EQ(sqz_batcher_create(nullptr, nullptr, &b), SQZ_ERR_INVALID_ARGUMENT);
  sqz_batcher_free(nullptr);
}

TEST_P(BatcherTest, AllocationFailuresLeaveNothingBehind) {
  // Every allocation of creation, in turn, fails; each gives a clean error.
  sqz_batcher_options o = Options(2, 4, 0, 8);
  int failures = 0;
  for (long n = 1;; n++) {
    sqz_debug_fail_alloc_after(n);
    sqz_batcher *b = nullptr;
    sqz_status st = sqz_batcher_create(model_, &o, &b);
    sqz_debug_fail_alloc_after(0);
    if (st == SQZ_OK) {
      sqz_batcher_free(b);
      break;
    }
    ASSERT_EQ(st, SQZ_ERR_OUT_OF_MEMORY) << "allocation " << n << ": " << sqz_last_error();
    EXPECT_EQ(b, nullptr);
    failures++;
    ASSERT_LT(n, 10000);
  }
  EXPECT_GT(failures, 5);
  // An encoded request whose decode cannot allocate is refused, not queued.
  Create(o);
  Record rec;
  std::vector<float> out(kClasses);
  sqz_request r = Request(SQZ_REQUEST_ENCODED, 1, out.data(), &rec);
  sqz_debug_fail_alloc_after(1);
  sqz_status st = sqz_batcher_submit(batcher_, &r);
  sqz_debug_fail_alloc_after(0);
  EXPECT_EQ(st, SQZ_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(rec.calls.load(), 0);
  EXPECT_EQ(sqz_batcher_infer(batcher_, &r), SQZ_OK) << sqz_last_error();
  EXPECT_EQ(std::memcmp(out.data(), Want(SQZ_REQUEST_ENCODED, 1).data(), sizeof(float) * 5), 0);
}

std::string BackendName(const ::testing::TestParamInfo<sqz_backend> &info) {
  return sqz_backend_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Backends, BatcherTest,
                         ::testing::Values(SQZ_BACKEND_CPU, SQZ_BACKEND_UNFUSED, SQZ_BACKEND_FUSED),
                         BackendName);

}  // namespace
