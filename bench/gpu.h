/* sqz-bench: the few CUDA runtime calls the bench makes itself (its stream,
 * device buffers, pinned buffers, events, cudaMemGetInfo). Every call is
 * checked; a failure is printed on stderr ("sqz-bench: CUDA error in ...")
 * and returned as BENCH_RUNTIME_ERROR. Without CUDA (SQZ_BENCH_CUDA not
 * defined) each one fails with a message saying so, and pinned buffers are
 * plain malloc. Handles are void * so that callers need no CUDA header. */
#ifndef SQZ_BENCH_GPU_H
#define SQZ_BENCH_GPU_H

#include <stddef.h>

/* 1 if this sqz-bench was built with CUDA. */
int bench_gpu_built(void);

/* Number of CUDA devices; 0 (with the reason in why) when there is none or
 * no driver. Never fails. */
int bench_gpu_device_count(char *why, size_t why_size);

int bench_gpu_set_device(int device);
int bench_gpu_stream_create(void **stream);
void bench_gpu_stream_destroy(void *stream);

int bench_gpu_malloc(void **ptr, size_t bytes, const char *what);
void bench_gpu_free(void *ptr);
/* Pinned (page-locked) host memory; malloc without CUDA. */
int bench_gpu_host_alloc(void **ptr, size_t bytes, const char *what);
void bench_gpu_host_free(void *ptr);
int bench_gpu_upload(void *dst, const void *src, size_t bytes, const char *what);
int bench_gpu_download(void *dst, const void *src, size_t bytes, const char *what);

/* Free and total bytes of the current device. */
int bench_gpu_mem_info(size_t *free_bytes, size_t *total_bytes);

int bench_gpu_event_create(void **event);
void bench_gpu_event_destroy(void *event);
int bench_gpu_event_record(void *event, void *stream);
/* Waits for `stop`, then the milliseconds between the two events. */
int bench_gpu_elapsed_ms(void *start, void *stop, double *ms);
int bench_gpu_stream_sync(void *stream);

#endif
