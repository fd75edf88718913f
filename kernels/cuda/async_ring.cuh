// A ring of shared-memory buffers filled by asynchronous copies
// (sqz::cp_async16), `buffers` (2 or more) of them, buffers - 1 steps
// ahead of the block's reads: the Fire kernel's squeeze input and the
// classifier's row tiles stream through one. stage(step, b) starts the
// copies of step `step` into buffer b; the ring commits them as one group
// a step (an empty one past the last step, so that "all but the newest
// buffers - 2 groups" is always this step's).
#ifndef SQZ_KERNELS_CUDA_ASYNC_RING_CUH
#define SQZ_KERNELS_CUDA_ASYNC_RING_CUH

#include "portable.cuh"

namespace sqz {

// Steps 0 .. buffers - 2 into buffers 0 .. buffers - 2, before the loop.
template <typename Stage>
__device__ __forceinline__ void ring_start(int buffers, int steps, Stage stage) {
  for (int s = 0; s < buffers - 1; s++) {
    if (s < steps) stage(s, s);
    cp_async_commit();
  }
}

// At step `step`, read from buffer `buf`: waits until the step has landed
// from every thread (the barrier also ends every read of the previous
// step), then starts step + buffers - 1 into the previous step's buffer.
template <typename Stage>
__device__ __forceinline__ void ring_step(int buffers, int steps, int step, int buf, Stage stage) {
  cp_async_wait_all_but(buffers - 2);
  __syncthreads();
  const int ahead = step + buffers - 1;
  if (ahead < steps) stage(ahead, buf > 0 ? buf - 1 : buffers - 1);
  cp_async_commit();
}

// The buffer after `buf`.
__device__ __forceinline__ int ring_next(int buf, int buffers) {
  return buf + 1 < buffers ? buf + 1 : 0;
}

}  // namespace sqz

#endif
