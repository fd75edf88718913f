#include "gpu_check.h"

#include "alloc.h"
#include "error.h"

static sqz_status cuda_status(cudaError_t err) {
  switch (err) {
    case cudaErrorMemoryAllocation: return SQZ_ERR_OUT_OF_MEMORY;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice: return SQZ_ERR_NO_DEVICE;
    default: return SQZ_ERR_DEVICE;
  }
}

sqz_status sqz_check_cuda(cudaError_t err, const char *call, const char *file, int line) {
  if (err == cudaSuccess) return SQZ_OK;
  return sqz_fail(cuda_status(err), "%s failed: %s (%s) at %s:%d", call, cudaGetErrorString(err),
                  cudaGetErrorName(err), file, line);
}

sqz_status sqz_check_cublas(cublasStatus_t st, const char *call, const char *file, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return SQZ_OK;
  return sqz_fail(st == CUBLAS_STATUS_ALLOC_FAILED ? SQZ_ERR_OUT_OF_MEMORY : SQZ_ERR_DEVICE,
                  "%s failed: %s at %s:%d", call, cublasGetStatusString(st), file, line);
}

#ifdef SQZ_HAVE_CUDNN
sqz_status sqz_check_cudnn(cudnnStatus_t st, const char *call, const char *file, int line) {
  if (st == CUDNN_STATUS_SUCCESS) return SQZ_OK;
  sqz_status status = SQZ_ERR_DEVICE;
#if CUDNN_MAJOR >= 9
  /* cuDNN 9 codes are a category (thousands) plus a specific error. */
  const int category = (int)st / 1000 * 1000;
  if (st == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    status = SQZ_ERR_OUT_OF_MEMORY;
  else if (category == CUDNN_STATUS_NOT_SUPPORTED)
    status = SQZ_ERR_UNSUPPORTED;
#else
  if (st == CUDNN_STATUS_ALLOC_FAILED) status = SQZ_ERR_OUT_OF_MEMORY;
  if (st == CUDNN_STATUS_NOT_SUPPORTED) status = SQZ_ERR_UNSUPPORTED;
#endif
  return sqz_fail(status, "%s failed: %s at %s:%d", call, cudnnGetErrorString(st), file, line);
}
#endif

sqz_status sqz_device_malloc(void **p, size_t bytes, const char *what) {
  *p = NULL;
  if (sqz_debug_alloc_should_fail())
    return sqz_fail(SQZ_ERR_OUT_OF_MEMORY,
                    "out of device memory allocating %zu bytes for %s "
                    "(injected)",
                    bytes, what);
  cudaError_t err = cudaMalloc(p, bytes ? bytes : 1);
  if (err != cudaSuccess) {
    *p = NULL;
    (void)cudaGetLastError(); /* allocation errors are not sticky: clear it */
    return sqz_fail(cuda_status(err), "cudaMalloc of %zu bytes for %s failed: %s", bytes, what,
                    cudaGetErrorString(err));
  }
  return SQZ_OK;
}

sqz_status sqz_host_pinned_malloc(void **p, size_t bytes, const char *what) {
  *p = NULL;
  if (sqz_debug_alloc_should_fail())
    return sqz_fail(SQZ_ERR_OUT_OF_MEMORY,
                    "out of pinned host memory allocating %zu bytes for "
                    "%s (injected)",
                    bytes, what);
  cudaError_t err = cudaHostAlloc(p, bytes ? bytes : 1, cudaHostAllocDefault);
  if (err != cudaSuccess) {
    *p = NULL;
    (void)cudaGetLastError();
    return sqz_fail(cuda_status(err), "cudaHostAlloc of %zu bytes for %s failed: %s", bytes, what,
                    cudaGetErrorString(err));
  }
  return SQZ_OK;
}
