/* sqz-bench: checked CUDA runtime calls (see gpu.h). */
#include "gpu.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#ifdef SQZ_BENCH_CUDA
#include <cuda_runtime_api.h>

static int check(cudaError_t err, const char *call, const char *what) {
  if (err == cudaSuccess) return BENCH_OK;
  fprintf(stderr, "sqz-bench: CUDA error in %s%s%s%s: %s (%s)\n", call, what ? "(" : "",
          what ? what : "", what ? ")" : "", cudaGetErrorString(err), cudaGetErrorName(err));
  (void)cudaGetLastError(); /* clear a non-sticky error */
  return BENCH_RUNTIME_ERROR;
}

int bench_gpu_built(void) { return 1; }

int bench_gpu_device_count(char *why, size_t why_size) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    snprintf(why, why_size, "%s", cudaGetErrorString(err));
    (void)cudaGetLastError();
    return 0;
  }
  if (n == 0) snprintf(why, why_size, "no CUDA device found");
  return n;
}

int bench_gpu_set_device(int device) { return check(cudaSetDevice(device), "cudaSetDevice", NULL); }

int bench_gpu_stream_create(void **stream) {
  cudaStream_t s = NULL;
  int rc = check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", NULL);
  *stream = rc ? NULL : (void *)s;
  return rc;
}

void bench_gpu_stream_destroy(void *stream) {
  if (stream) check(cudaStreamDestroy((cudaStream_t)stream), "cudaStreamDestroy", NULL);
}

int bench_gpu_malloc(void **ptr, size_t bytes, const char *what) {
  *ptr = NULL;
  return check(cudaMalloc(ptr, bytes), "cudaMalloc", what);
}

void bench_gpu_free(void *ptr) {
  if (ptr) check(cudaFree(ptr), "cudaFree", NULL);
}

int bench_gpu_host_alloc(void **ptr, size_t bytes, const char *what) {
  *ptr = NULL;
  return check(cudaHostAlloc(ptr, bytes, cudaHostAllocDefault), "cudaHostAlloc", what);
}

void bench_gpu_host_free(void *ptr) {
  if (ptr) check(cudaFreeHost(ptr), "cudaFreeHost", NULL);
}

int bench_gpu_upload(void *dst, const void *src, size_t bytes, const char *what) {
  /* From pageable memory cudaMemcpy may return before the device copy has
   * landed, and the engines read on non-blocking streams, which do not wait
   * for the legacy stream: wait for the device. */
  int rc = check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy", what);
  if (rc == 0) rc = check(cudaDeviceSynchronize(), "cudaDeviceSynchronize", what);
  return rc;
}

int bench_gpu_download(void *dst, const void *src, size_t bytes, const char *what) {
  return check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy", what);
}

int bench_gpu_mem_info(size_t *free_bytes, size_t *total_bytes) {
  return check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo", NULL);
}

int bench_gpu_event_create(void **event) {
  cudaEvent_t e = NULL;
  int rc = check(cudaEventCreate(&e), "cudaEventCreate", NULL);
  *event = rc ? NULL : (void *)e;
  return rc;
}

void bench_gpu_event_destroy(void *event) {
  if (event) check(cudaEventDestroy((cudaEvent_t)event), "cudaEventDestroy", NULL);
}

int bench_gpu_event_record(void *event, void *stream) {
  return check(cudaEventRecord((cudaEvent_t)event, (cudaStream_t)stream), "cudaEventRecord", NULL);
}

int bench_gpu_elapsed_ms(void *start, void *stop, double *ms) {
  float f = 0;
  int rc = check(cudaEventSynchronize((cudaEvent_t)stop), "cudaEventSynchronize", NULL);
  if (!rc)
    rc = check(cudaEventElapsedTime(&f, (cudaEvent_t)start, (cudaEvent_t)stop),
               "cudaEventElapsedTime", NULL);
  *ms = f;
  return rc;
}

int bench_gpu_stream_sync(void *stream) {
  return check(cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize", NULL);
}

#else /* no CUDA */

static int not_built(const char *call) {
  fprintf(stderr, "sqz-bench: %s: this sqz-bench was built without CUDA\n", call);
  return BENCH_RUNTIME_ERROR;
}

int bench_gpu_built(void) { return 0; }
int bench_gpu_device_count(char *why, size_t why_size) {
  snprintf(why, why_size, "sqz-bench was built without CUDA");
  return 0;
}
int bench_gpu_set_device(int device) {
  (void)device;
  return not_built("cudaSetDevice");
}
int bench_gpu_stream_create(void **stream) {
  *stream = NULL;
  return not_built("cudaStreamCreate");
}
void bench_gpu_stream_destroy(void *stream) { (void)stream; }
int bench_gpu_malloc(void **ptr, size_t bytes, const char *what) {
  (void)bytes;
  (void)what;
  *ptr = NULL;
  return not_built("cudaMalloc");
}
void bench_gpu_free(void *ptr) { (void)ptr; }
int bench_gpu_host_alloc(void **ptr, size_t bytes, const char *what) {
  *ptr = malloc(bytes ? bytes : 1);
  if (*ptr) return BENCH_OK;
  fprintf(stderr, "sqz-bench: out of memory (%s, %zu bytes)\n", what, bytes);
  return BENCH_RUNTIME_ERROR;
}
void bench_gpu_host_free(void *ptr) { free(ptr); }
int bench_gpu_upload(void *dst, const void *src, size_t bytes, const char *what) {
  (void)dst;
  (void)src;
  (void)bytes;
  (void)what;
  return not_built("cudaMemcpy");
}
int bench_gpu_download(void *dst, const void *src, size_t bytes, const char *what) {
  (void)dst;
  (void)src;
  (void)bytes;
  (void)what;
  return not_built("cudaMemcpy");
}
int bench_gpu_mem_info(size_t *free_bytes, size_t *total_bytes) {
  *free_bytes = *total_bytes = 0;
  return not_built("cudaMemGetInfo");
}
int bench_gpu_event_create(void **event) {
  *event = NULL;
  return not_built("cudaEventCreate");
}
void bench_gpu_event_destroy(void *event) { (void)event; }
int bench_gpu_event_record(void *event, void *stream) {
  (void)event;
  (void)stream;
  return not_built("cudaEventRecord");
}
int bench_gpu_elapsed_ms(void *start, void *stop, double *ms) {
  (void)start;
  (void)stop;
  *ms = 0;
  return not_built("cudaEventElapsedTime");
}
int bench_gpu_stream_sync(void *stream) {
  (void)stream;
  return not_built("cudaStreamSynchronize");
}

#endif
