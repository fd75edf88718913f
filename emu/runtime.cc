// The CUDA runtime on the emulated device: the subset libsqz, its tests and
// sqz-bench call, with the device's rules. Device memory is exact-size host
// memory (AddressSanitizer sees every overrun) within a budget
// (SQZ_EMU_DEVICE_MEMORY, bytes, with an optional K, M or G); each stream
// is a host thread running its work in order; the legacy default stream
// runs its work at once, after every blocking stream has drained, as it
// synchronises with them on the device; capture records a stream's work
// into a graph and refuses what CUDA refuses while capturing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>

#include "emu/internal.h"
#include "emu/sqz_emu.h"

using Op = std::function<void()>;

struct CUgraph_st {
  std::vector<Op> ops;
};
struct CUgraphExec_st {
  std::vector<Op> ops;
};

struct CUevent_st {
  unsigned flags = 0;
  std::mutex m;
  std::condition_variable cv;
  unsigned long long recorded = 0, completed = 0;  // tickets
  std::chrono::steady_clock::time_point when;
};

struct CUstream_st {
  unsigned flags = cudaStreamDefault;
  std::mutex m;
  std::condition_variable work, idle;
  std::deque<Op> queue;
  bool busy = false, stopping = false;
  std::thread worker;
  // Capture (under m).
  CUgraph_st *capture = nullptr;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id capture_thread;
  bool invalidated = false;

  void run() {
    std::unique_lock<std::mutex> lock(m);
    for (;;) {
      work.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;
      Op op = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      op();
      lock.lock();
      busy = false;
      if (queue.empty()) idle.notify_all();
    }
  }
  void drain() {
    std::unique_lock<std::mutex> lock(m);
    idle.wait(lock, [&] { return queue.empty() && !busy; });
  }
};

namespace sqz_emu {
namespace {

struct Allocation {
  size_t bytes;
  bool pinned;  // host memory from cudaHostAlloc; else device memory
};

struct Device {
  std::mutex m;
  std::map<uintptr_t, Allocation> allocations;
  size_t device_used = 0;
  std::set<CUstream_st *> streams;
  std::map<const void *, int> smem_limit;
  int global_captures = 0;
  cudaError_t fault = cudaSuccess;
  std::string fault_message, launch_message;
};

Device &device() {
  static Device *d = new Device;  // never destroyed: streams may outlive static destructors
  return *d;
}

thread_local cudaError_t t_last = cudaSuccess;
thread_local int t_captures = 0;  // captures begun by this thread (thread-local/global modes)

// Read at every call, so that a test can shrink it to reach out-of-memory.
size_t budget() {
  const char *v = getenv("SQZ_EMU_DEVICE_MEMORY");
  if (!v || !*v) return (size_t)80 << 30;
  char *end = nullptr;
  double x = strtod(v, &end);
  if (end && (*end == 'K' || *end == 'k')) x *= 1024.0;
  if (end && (*end == 'M' || *end == 'm')) x *= 1024.0 * 1024.0;
  if (end && (*end == 'G' || *end == 'g')) x *= 1024.0 * 1024.0 * 1024.0;
  return x > 0 ? (size_t)x : 0;
}

// 132 unless SQZ_EMU_SM_COUNT says otherwise: fewer SMs make the fused
// planner choose its tall tiles at the small batches a CPU can afford.
int sm_count() {
  const char *v = getenv("SQZ_EMU_SM_COUNT");
  const long n = v ? strtol(v, nullptr, 10) : 0;
  return n > 0 && n < 100000 ? (int)n : kSmCount;
}

bool legacy(cudaStream_t s) {
  return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread;
}

cudaError_t fail(cudaError_t err) { return note_error(err); }

// Where [p, p + n) lies: 1 inside one device allocation, 2 inside a pinned
// one, 0 not in any allocation, -1 a device allocation overrun; the
// allocation's [*begin, *end) when it lies inside one and they are asked.
int region(const void *p, size_t n, uintptr_t *begin = nullptr, uintptr_t *end = nullptr) {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  auto it = d.allocations.upper_bound((uintptr_t)p);
  if (it == d.allocations.begin()) return 0;
  --it;
  const uintptr_t base = it->first, at = (uintptr_t)p;
  if (at >= base + it->second.bytes) return 0;
  if (at + n > base + it->second.bytes) return it->second.pinned ? 0 : -1;
  if (begin) *begin = base;
  if (end) *end = base + it->second.bytes;
  return it->second.pinned ? 2 : 1;
}

// A call that CUDA refuses while the calling thread (or, in global mode,
// any thread) is capturing: it invalidates those captures.
cudaError_t refused_while_capturing() {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  if (t_captures == 0 && d.global_captures == 0) return cudaSuccess;
  for (CUstream_st *s : d.streams) {
    std::lock_guard<std::mutex> sl(s->m);
    if (s->capture &&
        (s->capture_thread == std::this_thread::get_id() || s->mode == cudaStreamCaptureModeGlobal))
      s->invalidated = true;
  }
  return cudaErrorStreamCaptureUnsupported;
}

void drain_blocking_streams() {
  std::vector<CUstream_st *> blocking;
  {
    Device &d = device();
    std::lock_guard<std::mutex> lock(d.m);
    for (CUstream_st *s : d.streams)
      if (!(s->flags & cudaStreamNonBlocking)) blocking.push_back(s);
  }
  for (CUstream_st *s : blocking) s->drain();
}

bool capturing(cudaStream_t s) {
  if (legacy(s)) return false;
  std::lock_guard<std::mutex> lock(s->m);
  return s->capture != nullptr;
}

cudaError_t check_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  const int rd = region(dst, n), rs = region(src, n);
  if (rd < 0 || rs < 0) return cudaErrorInvalidValue;  // past the end of a device allocation
  switch (kind) {
    case cudaMemcpyHostToDevice: return rd == 1 && rs != 1 ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost: return rs == 1 && rd != 1 ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice: return rs == 1 && rd == 1 ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyHostToHost: return rs != 1 && rd != 1 ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDefault: return cudaSuccess;
    default: return cudaErrorInvalidMemcpyDirection;
  }
}

}  // namespace

bool in_device_allocation(const void *p, size_t n, uintptr_t *begin, uintptr_t *end) {
  return region(p, n, begin, end) == 1;
}

cudaError_t note_error(cudaError_t err) {
  if (err != cudaSuccess) t_last = err;
  return err;
}

void set_fault(cudaError_t err, const std::string &message) {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  if (d.fault == cudaSuccess) {
    d.fault = err;
    d.fault_message = message;
    fprintf(stderr, "sqz emulated device: %s: %s\n", cudaGetErrorName(err), message.c_str());
  }
}

cudaError_t fault_state() {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  return d.fault;
}

void set_launch_error(const std::string &message) {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  d.launch_message = message;
}

int max_dynamic_smem(const void *kernel) {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  auto it = d.smem_limit.find(kernel);
  return it == d.smem_limit.end() ? kSharedDefault : it->second;
}

cudaError_t enqueue(cudaStream_t s, const char *what, Op op) {
  (void)what;
  if (legacy(s)) {
    drain_blocking_streams();
    op();
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(s->m);
  if (s->capture) {
    if (s->invalidated) return cudaErrorStreamCaptureInvalidated;
    s->capture->ops.push_back(std::move(op));
    return cudaSuccess;
  }
  s->queue.push_back(std::move(op));
  s->work.notify_one();
  return cudaSuccess;
}

}  // namespace sqz_emu

using namespace sqz_emu;

extern "C" {

const char *sqz_emu_last_fault(void) {
  static thread_local std::string copy;
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  copy = d.fault_message;
  return copy.c_str();
}

const char *sqz_emu_last_launch_error(void) {
  static thread_local std::string copy;
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  copy = d.launch_message;
  return copy.c_str();
}

void sqz_emu_clear_fault(void) {
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  d.fault = cudaSuccess;
  d.fault_message.clear();
}

// --- errors and versions ---------------------------------------------------

cudaError_t cudaGetLastError(void) {
  cudaError_t e = t_last;
  t_last = cudaSuccess;
  const cudaError_t sticky = fault_state();
  return sticky != cudaSuccess ? sticky : e;
}

cudaError_t cudaPeekAtLastError(void) {
  const cudaError_t sticky = fault_state();
  return sticky != cudaSuccess ? sticky : t_last;
}

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define SQZ_EMU_NAME(x) \
  case x: return #x;
    SQZ_EMU_NAME(cudaSuccess)
    SQZ_EMU_NAME(cudaErrorInvalidValue)
    SQZ_EMU_NAME(cudaErrorMemoryAllocation)
    SQZ_EMU_NAME(cudaErrorInvalidConfiguration)
    SQZ_EMU_NAME(cudaErrorLaunchOutOfResources)
    SQZ_EMU_NAME(cudaErrorLaunchFailure)
    SQZ_EMU_NAME(cudaErrorMisalignedAddress)
    SQZ_EMU_NAME(cudaErrorIllegalAddress)
    SQZ_EMU_NAME(cudaErrorInvalidDevice)
    SQZ_EMU_NAME(cudaErrorNoDevice)
    SQZ_EMU_NAME(cudaErrorInvalidResourceHandle)
    SQZ_EMU_NAME(cudaErrorNotReady)
    SQZ_EMU_NAME(cudaErrorInvalidMemcpyDirection)
    SQZ_EMU_NAME(cudaErrorStreamCaptureUnsupported)
    SQZ_EMU_NAME(cudaErrorStreamCaptureInvalidated)
    SQZ_EMU_NAME(cudaErrorStreamCaptureImplicit)
    SQZ_EMU_NAME(cudaErrorStreamCaptureWrongThread)
    SQZ_EMU_NAME(cudaErrorIllegalState)
    SQZ_EMU_NAME(cudaErrorNotSupported)
#undef SQZ_EMU_NAME
    default: return "cudaErrorUnknown";
  }
}

const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorMisalignedAddress: return "misaligned address";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    default: return "unknown error";
  }
}

cudaError_t cudaRuntimeGetVersion(int *v) {
  if (!v) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
  if (!v) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

// --- the device ------------------------------------------------------------

static bool no_device() {
  const char *v = getenv("SQZ_EMU_NO_DEVICE");
  return v && *v && strcmp(v, "0") != 0;
}

cudaError_t cudaGetDeviceCount(int *count) {
  if (!count) return fail(cudaErrorInvalidValue);
  if (no_device()) {
    *count = 0;
    return fail(cudaErrorNoDevice);
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *d) {
  if (!d) return fail(cudaErrorInvalidValue);
  *d = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int d) {
  return d == 0 && !no_device() ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
  if (!p) return fail(cudaErrorInvalidValue);
  if (d != 0) return fail(cudaErrorInvalidDevice);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "sqz emulated device (H100-like, runs on the CPU)");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = sm_count();
  p->totalGlobalMem = budget();
  p->sharedMemPerBlock = kSharedDefault;
  p->sharedMemPerBlockOptin = kSharedOptin;
  p->sharedMemPerMultiprocessor = kSharedPerSm;
  p->reservedSharedMemPerBlock = kSharedReserved;
  p->maxThreadsPerBlock = kMaxThreads;
  p->maxThreadsPerMultiProcessor = 2048;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->warpSize = 32;
  p->regsPerBlock = 65536;
  p->l2CacheSize = 50 * 1024 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int d) {
  if (!v) return fail(cudaErrorInvalidValue);
  if (d != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = kSharedOptin; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = kSharedDefault; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *v = kSharedPerSm; break;
    case cudaDevAttrReservedSharedMemoryPerBlock: *v = kSharedReserved; break;
    case cudaDevAttrMultiProcessorCount: *v = sm_count(); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = kMaxThreads; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrWarpSize: *v = 32; break;
    default: *v = 0; break;  // clocks and bus width: not emulated
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int d) {
  if (!id || len <= 0) return fail(cudaErrorInvalidValue);
  if (d != 0) return fail(cudaErrorInvalidDevice);
  snprintf(id, (size_t)len, "emulated");
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureUnsupported);
  std::vector<CUstream_st *> all;
  {
    Device &d = device();
    std::lock_guard<std::mutex> lock(d.m);
    all.assign(d.streams.begin(), d.streams.end());
  }
  for (CUstream_st *s : all) s->drain();
  return fail(fault_state());
}

cudaError_t cudaDeviceReset(void) {
  cudaDeviceSynchronize();
  sqz_emu_clear_fault();
  t_last = cudaSuccess;
  return cudaSuccess;
}

// --- memory ----------------------------------------------------------------

static cudaError_t allocate(void **p, size_t bytes, bool pinned) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureUnsupported);
  if (fault_state() != cudaSuccess) return fail(fault_state());
  Device &d = device();
  {
    std::lock_guard<std::mutex> lock(d.m);
    if (!pinned && d.device_used + bytes > budget()) return fail(cudaErrorMemoryAllocation);
  }
  // Device memory is aligned as the device's is (256 bytes), and exactly
  // `bytes` long.
  void *mem = nullptr;
  if (posix_memalign(&mem, 256, bytes ? bytes : 1) != 0) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(d.m);
  d.allocations[(uintptr_t)mem] = Allocation{bytes, pinned};
  if (!pinned) d.device_used += bytes;
  *p = mem;
  return cudaSuccess;
}

static cudaError_t release(void *p, bool pinned) {
  if (!p) return cudaSuccess;
  if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureUnsupported);
  // cudaFree waits for the device to finish using the memory.
  cudaDeviceSynchronize();
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  auto it = d.allocations.find((uintptr_t)p);
  if (it == d.allocations.end() || it->second.pinned != pinned) return fail(cudaErrorInvalidValue);
  if (!pinned) d.device_used -= it->second.bytes;
  d.allocations.erase(it);
  free(p);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) { return allocate(p, bytes, false); }
cudaError_t cudaFree(void *p) { return release(p, false); }
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
  (void)flags;
  return allocate(p, bytes, true);
}
cudaError_t cudaMallocHost(void **p, size_t bytes) { return allocate(p, bytes, true); }
cudaError_t cudaFreeHost(void *p) { return release(p, true); }

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total) {
  if (!free_bytes || !total) return fail(cudaErrorInvalidValue);
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  *total = budget();
  *free_bytes = budget() > d.device_used ? budget() - d.device_used : 0;
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
  if (!a) return fail(cudaErrorInvalidValue);
  memset(a, 0, sizeof *a);
  const int r = region(p, 1);
  a->device = 0;
  if (r == 1) {
    a->type = cudaMemoryTypeDevice;
    a->devicePointer = (void *)p;
  } else if (r == 2) {
    a->type = cudaMemoryTypeHost;
    a->devicePointer = a->hostPointer = (void *)p;
  } else {
    a->type = cudaMemoryTypeUnregistered;
    a->device = -2;
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
  if (fault_state() != cudaSuccess) return fail(fault_state());
  // Synchronous, on the legacy stream: illegal while capturing.
  if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureImplicit);
  cudaError_t err = check_copy(dst, src, n, kind);
  if (err != cudaSuccess) return fail(err);
  drain_blocking_streams();
  if (n) memmove(dst, src, n);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t s) {
  if (fault_state() != cudaSuccess) return fail(fault_state());
  cudaError_t err = check_copy(dst, src, n, kind);
  if (err != cudaSuccess) return fail(err);
  if (n == 0) return cudaSuccess;
  return fail(enqueue(s, "cudaMemcpyAsync", [=] {
    if (fault_state() == cudaSuccess) memmove(dst, src, n);
  }));
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, cudaMemcpyKind kind, cudaStream_t s) {
  if (fault_state() != cudaSuccess) return fail(fault_state());
  if (width > dpitch || width > spitch) return fail(cudaErrorInvalidValue);
  if (height == 0 || width == 0) return cudaSuccess;
  const size_t last = (height - 1);
  cudaError_t err = check_copy(dst, src, 1, kind);
  if (err == cudaSuccess)
    err = check_copy((char *)dst + last * dpitch, (const char *)src + last * spitch, width, kind);
  if (err != cudaSuccess) return fail(err);
  return fail(enqueue(s, "cudaMemcpy2DAsync", [=] {
    if (fault_state() != cudaSuccess) return;
    for (size_t r = 0; r < height; r++)
      memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
  }));
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t n, cudaStream_t s) {
  if (fault_state() != cudaSuccess) return fail(fault_state());
  if (n && region(dst, n) != 1) return fail(cudaErrorInvalidValue);
  return fail(enqueue(s, "cudaMemsetAsync", [=] {
    if (fault_state() == cudaSuccess) memset(dst, value, n);
  }));
}

cudaError_t cudaMemset(void *dst, int value, size_t n) {
  if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureImplicit);
  return cudaMemsetAsync(dst, value, n, nullptr);
}

// --- streams -----------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
  if (!s) return fail(cudaErrorInvalidValue);
  CUstream_st *st = new CUstream_st;
  st->flags = flags;
  st->worker = std::thread([st] { st->run(); });
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  d.streams.insert(st);
  *s = st;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) {
  return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (legacy(s)) return fail(cudaErrorInvalidResourceHandle);
  {
    Device &d = device();
    std::lock_guard<std::mutex> lock(d.m);
    if (!d.streams.erase(s)) return fail(cudaErrorInvalidResourceHandle);
  }
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->stopping = true;
    s->work.notify_all();
  }
  s->worker.join();  // runs what is queued first
  delete s;
  return cudaSuccess;
}

cudaError_t cudaStreamGetFlags(cudaStream_t s, unsigned int *flags) {
  if (!flags) return fail(cudaErrorInvalidValue);
  *flags = legacy(s) ? cudaStreamDefault : s->flags;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (capturing(s)) {
    std::lock_guard<std::mutex> lock(s->m);
    s->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  if (legacy(s)) {
    if (refused_while_capturing() != cudaSuccess) return fail(cudaErrorStreamCaptureImplicit);
    drain_blocking_streams();
  } else {
    s->drain();
  }
  return fail(fault_state());
}

cudaError_t cudaStreamQuery(cudaStream_t s) {
  if (legacy(s)) return fail(fault_state());
  std::lock_guard<std::mutex> lock(s->m);
  if (!s->queue.empty() || s->busy) return cudaErrorNotReady;
  return fail(fault_state());
}

cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void *arg) {
  if (!fn) return fail(cudaErrorInvalidValue);
  if (fault_state() != cudaSuccess) return fail(fault_state());
  return fail(enqueue(s, "cudaLaunchHostFunc", [=] {
    if (fault_state() == cudaSuccess) fn(arg);
  }));
}

// --- events ------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
  if (!e) return fail(cudaErrorInvalidValue);
  *e = new CUevent_st;
  (*e)->flags = flags;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  {
    // Destroying an event with records still queued is allowed on the
    // device; here the stream still holds it, so wait for them.
    std::unique_lock<std::mutex> lock(e->m);
    e->cv.wait(lock, [&] { return e->completed >= e->recorded; });
  }
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  // Captured, an event record only orders work inside the graph; the
  // engines' graphs are single-stream, so it records nothing at replay.
  if (capturing(s)) return cudaSuccess;
  unsigned long long ticket;
  {
    std::lock_guard<std::mutex> lock(e->m);
    ticket = ++e->recorded;
  }
  return fail(enqueue(s, "cudaEventRecord", [e, ticket] {
    std::lock_guard<std::mutex> lock(e->m);
    e->when = std::chrono::steady_clock::now();
    if (ticket > e->completed) e->completed = ticket;
    e->cv.notify_all();
  }));
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  std::unique_lock<std::mutex> lock(e->m);
  const unsigned long long ticket = e->recorded;
  e->cv.wait(lock, [&] { return e->completed >= ticket; });
  return fail(fault_state());
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::mutex> lock(e->m);
  return e->completed >= e->recorded ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
  if (!ms || !a || !b) return fail(cudaErrorInvalidValue);
  if ((a->flags | b->flags) & cudaEventDisableTiming) return fail(cudaErrorInvalidResourceHandle);
  std::scoped_lock lock(a->m, b->m);
  if (a->completed < a->recorded || b->completed < b->recorded) return fail(cudaErrorNotReady);
  if (a->completed == 0 || b->completed == 0) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  (void)flags;
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  if (capturing(s)) return cudaSuccess;  // inside a single-stream graph: already ordered
  unsigned long long ticket;
  {
    std::lock_guard<std::mutex> lock(e->m);
    ticket = e->recorded;
  }
  return fail(enqueue(s, "cudaStreamWaitEvent", [e, ticket] {
    std::unique_lock<std::mutex> lock(e->m);
    e->cv.wait(lock, [&] { return e->completed >= ticket; });
  }));
}

// --- capture and graphs ------------------------------------------------------

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (legacy(s)) return fail(cudaErrorStreamCaptureUnsupported);
  {
    std::lock_guard<std::mutex> lock(s->m);
    if (s->capture) return fail(cudaErrorIllegalState);
    s->capture = new CUgraph_st;
    s->mode = mode;
    s->capture_thread = std::this_thread::get_id();
    s->invalidated = false;
  }
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  if (mode != cudaStreamCaptureModeRelaxed) t_captures++;
  if (mode == cudaStreamCaptureModeGlobal) d.global_captures++;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph) {
  if (!graph) return fail(cudaErrorInvalidValue);
  *graph = nullptr;
  if (legacy(s)) return fail(cudaErrorIllegalState);
  CUgraph_st *g;
  bool invalidated;
  cudaStreamCaptureMode mode;
  {
    std::lock_guard<std::mutex> lock(s->m);
    if (!s->capture) return fail(cudaErrorIllegalState);
    if (s->capture_thread != std::this_thread::get_id() && s->mode != cudaStreamCaptureModeRelaxed)
      return fail(cudaErrorStreamCaptureWrongThread);
    g = s->capture;
    invalidated = s->invalidated;
    mode = s->mode;
    s->capture = nullptr;
    s->invalidated = false;
  }
  {
    Device &d = device();
    std::lock_guard<std::mutex> lock(d.m);
    if (mode != cudaStreamCaptureModeRelaxed) t_captures--;
    if (mode == cudaStreamCaptureModeGlobal) d.global_captures--;
  }
  if (invalidated) {
    delete g;
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = g;
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *status) {
  if (!status) return fail(cudaErrorInvalidValue);
  *status = cudaStreamCaptureStatusNone;
  if (legacy(s)) return cudaSuccess;
  std::lock_guard<std::mutex> lock(s->m);
  if (s->capture)
    *status = s->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags) {
  (void)flags;
  if (!exec || !graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (!exec) return fail(cudaErrorInvalidValue);
  if (fault_state() != cudaSuccess) return fail(fault_state());
  for (const Op &op : exec->ops) {
    cudaError_t err = enqueue(s, "cudaGraphLaunch", op);
    if (err != cudaSuccess) return fail(err);
  }
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t g) {
  delete g;
  return cudaSuccess;
}

// --- kernels -----------------------------------------------------------------

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value) {
  if (!func) return fail(cudaErrorInvalidDeviceFunction);
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || value > kSharedOptin) {
    set_launch_error("cudaFuncSetAttribute: " + std::to_string(value) +
                     " bytes of dynamic shared memory is more than the device's " +
                     std::to_string(kSharedOptin));
    return fail(cudaErrorInvalidValue);
  }
  Device &d = device();
  std::lock_guard<std::mutex> lock(d.m);
  d.smem_limit[func] = value;
  return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, const void *func) {
  if (!a) return fail(cudaErrorInvalidValue);
  if (!func) return fail(cudaErrorInvalidDeviceFunction);
  memset(a, 0, sizeof *a);
  a->maxThreadsPerBlock = kMaxThreads;
  a->maxDynamicSharedSizeBytes = max_dynamic_smem(func);
  a->ptxVersion = a->binaryVersion = 90;
  return cudaSuccess;
}

}  // extern "C"
