// The cuBLAS calls of the unfused backend on the emulated device: handles,
// stream and workspace, and cublasGemmEx (fp32 or fp16 A, B and C, fp32
// compute), with cuBLAS's argument checks, run in stream order on the host.
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <vector>

#include "emu/internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  void *workspace = nullptr;
  size_t workspace_bytes = 0;
};

namespace {

float load(const void *p, cudaDataType t, size_t i) {
  return t == CUDA_R_16F ? __half2float(((const __half *)p)[i]) : ((const float *)p)[i];
}

void store(void *p, cudaDataType t, size_t i, float v) {
  if (t == CUDA_R_16F)
    ((__half *)p)[i] = __float2half_rn(v);
  else
    ((float *)p)[i] = v;
}

struct Gemm {
  cublasOperation_t ta, tb;
  int m, n, k;
  float alpha, beta;
  const void *a, *b;
  void *c;
  cudaDataType type;
  int lda, ldb, ldc;

  // Column-major: C(i, j) = alpha sum_l op(A)(i, l) op(B)(l, j) + beta C(i, j).
  // op(A) and op(B) are first widened to fp32 rows of k, so that each
  // output is one contiguous dot product.
  void run() const {
    std::vector<float> ar((size_t)m * k), br((size_t)n * k);
    for (int i = 0; i < m; i++)
      for (int l = 0; l < k; l++)
        ar[(size_t)i * k + l] =
            load(a, type, ta == CUBLAS_OP_N ? i + (size_t)l * lda : l + (size_t)i * lda);
    for (int j = 0; j < n; j++)
      for (int l = 0; l < k; l++)
        br[(size_t)j * k + l] =
            load(b, type, tb == CUBLAS_OP_N ? l + (size_t)j * ldb : j + (size_t)l * ldb);
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        const float *x = &ar[(size_t)i * k], *y = &br[(size_t)j * k];
        float s = 0.0f;
        for (int l = 0; l < k; l++) s += x[l] * y[l];
        const size_t ci = i + (size_t)j * ldc;
        // beta 0 ignores C, which may hold anything (NaN included).
        const float prior = beta != 0.0f ? beta * load(c, type, ci) : 0.0f;
        store(c, type, ci, alpha * s + prior);
      }
  }
};

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  handle->workspace = nullptr;  // as cuBLAS does: back to its default pool
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes && (!workspace || (uintptr_t)workspace % 256 != 0)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value) {
  if (!value) return CUBLAS_STATUS_INVALID_VALUE;
  switch (type) {
    case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; break;
    case MINOR_VERSION: *value = CUBLAS_VER_MINOR; break;
    case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; break;
    default: return CUBLAS_STATUS_INVALID_VALUE;
  }
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    default: return "unknown cuBLAS status";
  }
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  (void)algo;
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) return CUBLAS_STATUS_INVALID_VALUE;
  if (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T) return CUBLAS_STATUS_INVALID_VALUE;
  const int rows_a = transa == CUBLAS_OP_N ? m : k, rows_b = transb == CUBLAS_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || lda < (rows_a > 1 ? rows_a : 1) ||
      ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1) || !alpha || !beta)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (Atype != Btype || Atype != Ctype || (Atype != CUDA_R_32F && Atype != CUDA_R_16F))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_FAST_TF32 &&
      computeType != CUBLAS_COMPUTE_32F_PEDANTIC)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if (!A || !B || !C) return CUBLAS_STATUS_INVALID_VALUE;
  // Pointer mode host: alpha and beta are read now.
  const Gemm g{transa, transb, m,   n,   k,  *(const float *)alpha, *(const float *)beta, A, B,
               C,      Atype,  lda, ldb, ldc};
  const cudaError_t err = sqz_emu::enqueue(handle->stream, "cublasGemmEx", [g] {
    if (sqz_emu::fault_state() == cudaSuccess) g.run();
  });
  return err == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // extern "C"
