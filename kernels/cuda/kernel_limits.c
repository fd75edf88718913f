/* The list of every fused kernel, and their dynamic shared memory limits.
 * cudaFuncSetAttribute sets a kernel's limit for the whole process: every
 * engine of every model launches the same kernels, so a limit is only ever
 * raised, under a lock (two engines created at once must not lower each
 * other's). */
#include <pthread.h>

#include "kernels/cuda/fused_kernels.h"

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;

void sqz_fused_kernels(sqz_kernel_ref out[SQZ_FUSED_KERNELS]) {
  sqz_fused_stem_kernels(out);
  sqz_fused_fire_kernels(out + SQZ_FUSED_FAMILY_KERNELS);
  sqz_fused_classifier_kernels(out + 2 * SQZ_FUSED_FAMILY_KERNELS);
}

cudaError_t sqz_fused_allow_smem(const sqz_kernel_ref kernels[SQZ_FUSED_FAMILY_KERNELS],
                                 size_t bytes) {
  cudaError_t err = cudaSuccess;
  pthread_mutex_lock(&limits_lock);
  for (int i = 0; i < SQZ_FUSED_FAMILY_KERNELS && err == cudaSuccess; i++) {
    struct cudaFuncAttributes attr;
    err = cudaFuncGetAttributes(&attr, kernels[i].fn);
    if (err == cudaSuccess && (size_t)attr.maxDynamicSharedSizeBytes < bytes)
      err = cudaFuncSetAttribute(kernels[i].fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)bytes);
  }
  pthread_mutex_unlock(&limits_lock);
  return err;
}
