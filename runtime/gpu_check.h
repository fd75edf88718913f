/* Internal: the one check for CUDA, cuBLAS and cuDNN calls. Every call into
 * those libraries goes through SQZ_GPU_CHECK, which turns a failure into a
 * status with the call, file, line and the library's message, and returns
 * it from the calling function. */
#ifndef SQZ_RUNTIME_GPU_CHECK_H
#define SQZ_RUNTIME_GPU_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#ifdef SQZ_HAVE_CUDNN
#include <cudnn.h>
#endif

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

sqz_status sqz_check_cuda(cudaError_t err, const char *call, const char *file, int line);
sqz_status sqz_check_cublas(cublasStatus_t st, const char *call, const char *file, int line);
#ifdef SQZ_HAVE_CUDNN
sqz_status sqz_check_cudnn(cudnnStatus_t st, const char *call, const char *file, int line);
#define SQZ_CUDNN_CHECKER \
  cudnnStatus_t:          \
  sqz_check_cudnn,
#else
#define SQZ_CUDNN_CHECKER
#endif

#ifdef __cplusplus
}
#endif

/* The status of a CUDA, cuBLAS or cuDNN result (SQZ_OK on success). */
#define SQZ_GPU_STATUS(result, call)                  \
  _Generic((result), SQZ_CUDNN_CHECKER cublasStatus_t \
           : sqz_check_cublas, default                \
           : sqz_check_cuda)((result), (call), __FILE__, __LINE__)

#define SQZ_GPU_CHECK(expr)                                     \
  do {                                                          \
    sqz_status sqz_gpu_status_ = SQZ_GPU_STATUS((expr), #expr); \
    if (sqz_gpu_status_ != SQZ_OK) return sqz_gpu_status_;      \
  } while (0)

/* Device allocations go through these: fault injection for tests (the same
 * countdown as host allocations) and a message naming what it was for. */
sqz_status sqz_device_malloc(void **p, size_t bytes, const char *what);
sqz_status sqz_host_pinned_malloc(void **p, size_t bytes, const char *what);

#endif
