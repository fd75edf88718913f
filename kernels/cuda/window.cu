// Window operations over NHWC tensors: im2col for the unfused path's
// convolutions, max pooling (ceil-mode output sizes come from the caller),
// global average pooling and softmax.
#include <float.h>

#include "dtype.cuh"
#include "kernels/cuda/kernels.h"

namespace {

template <typename T>
__global__ void im2col(sqz_window w, const T *in, T *col, size_t total) {
  const int k = w.kernel, kc = k * k * w.channels;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const int j = (int)(i % kc);  // (ky, kx, ci)
    const size_t row = i / kc;    // (n, oy, ox)
    const int ci = j % w.channels, kx = (j / w.channels) % k, ky = j / (w.channels * k);
    const int ox = (int)(row % w.out_width), oy = (int)((row / w.out_width) % w.out_height);
    const size_t n = row / ((size_t)w.out_width * w.out_height);
    const int iy = oy * w.stride + ky - w.pad, ix = ox * w.stride + kx - w.pad;
    T v = sqz::from_float<T>(0.0f);
    if (iy >= 0 && iy < w.height && ix >= 0 && ix < w.width)
      v = in[((n * w.height + iy) * w.width + ix) * w.channels + ci];
    col[i] = v;
  }
}

// One thread per output element in output order; the window is clipped to
// the input (ceil mode lets the last one hang over).
template <typename T>
__global__ void maxpool(sqz_window w, const T *in, T *out, size_t total) {
  const size_t plane = (size_t)w.height * w.width;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    int c, ox, oy;
    size_t n;
    if (w.nchw) {
      ox = (int)(i % w.out_width);
      oy = (int)((i / w.out_width) % w.out_height);
      c = (int)((i / ((size_t)w.out_width * w.out_height)) % w.channels);
      n = i / ((size_t)w.out_width * w.out_height * w.channels);
    } else {
      c = (int)(i % w.channels);
      const size_t pix = i / w.channels;
      ox = (int)(pix % w.out_width);
      oy = (int)((pix / w.out_width) % w.out_height);
      n = pix / ((size_t)w.out_width * w.out_height);
    }
    const int y0 = max(oy * w.stride - w.pad, 0),
              y1 = min(oy * w.stride - w.pad + w.kernel, w.height);
    const int x0 = max(ox * w.stride - w.pad, 0),
              x1 = min(ox * w.stride - w.pad + w.kernel, w.width);
    float m = -FLT_MAX;
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++) {
        const size_t at = w.nchw ? (n * w.channels + c) * plane + (size_t)y * w.width + x
                                 : ((n * w.height + y) * w.width + x) * w.channels + c;
        m = fmaxf(m, sqz::to_float(in[at]));
      }
    out[i] = sqz::from_float<T>(m);
  }
}

// One block per (image, 32 channels): threads stride over the pixels, then
// a shared-memory reduction; the sum is in fp32 whatever the storage.
template <typename T>
__global__ void global_avgpool(const T *in, int hw, int channels, float *out) {
  __shared__ float partial[8][33];
  const int n = blockIdx.y, c = blockIdx.x * 32 + threadIdx.x;
  float sum = 0.0f;
  if (c < channels)
    for (int p = threadIdx.y; p < hw; p += blockDim.y)
      sum += sqz::to_float(in[((size_t)n * hw + p) * channels + c]);
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    for (int r = 1; r < (int)blockDim.y; r++) sum += partial[r][threadIdx.x];
    out[(size_t)n * channels + c] = sum / (float)hw;
  }
}

// One block per row: max, then sum of exponentials, then scale.
__global__ void softmax(float *x, int cols) {
  __shared__ float scratch[256];
  float *row = x + (size_t)blockIdx.x * cols;
  float m = -FLT_MAX;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) m = fmaxf(m, row[i]);
  scratch[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s)
      scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + s]);
    __syncthreads();
  }
  m = scratch[0];
  __syncthreads();
  float sum = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) sum += expf(row[i] - m);
  scratch[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
    __syncthreads();
  }
  const float inv = 1.0f / scratch[0];
  for (int i = threadIdx.x; i < cols; i += blockDim.x) row[i] = expf(row[i] - m) * inv;
}

}  // namespace

extern "C" cudaError_t sqz_launch_im2col(const sqz_window *w, const void *in, void *col,
                                         sqz_dtype dtype, cudaStream_t stream) {
  const size_t total =
      (size_t)w->batch * w->out_height * w->out_width * w->kernel * w->kernel * w->channels;
  const unsigned block = 256, grid = sqz::grid_for(total, block);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(im2col<__half>, 0, dim3(grid), dim3(block), 0, stream, *w, (const __half *)in,
                      (__half *)col, total);
  return SQZ_LAUNCH(im2col<float>, 0, dim3(grid), dim3(block), 0, stream, *w, (const float *)in,
                    (float *)col, total);
}

extern "C" cudaError_t sqz_launch_maxpool(const sqz_window *w, const void *in, void *out,
                                          sqz_dtype dtype, cudaStream_t stream) {
  const size_t total = (size_t)w->batch * w->out_height * w->out_width * w->channels;
  const unsigned block = 256, grid = sqz::grid_for(total, block);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(maxpool<__half>, 0, dim3(grid), dim3(block), 0, stream, *w,
                      (const __half *)in, (__half *)out, total);
  return SQZ_LAUNCH(maxpool<float>, 0, dim3(grid), dim3(block), 0, stream, *w, (const float *)in,
                    (float *)out, total);
}

extern "C" cudaError_t sqz_launch_global_avgpool(const void *in, int batch, int hw, int channels,
                                                 float *out, sqz_dtype dtype, cudaStream_t stream) {
  // The batch is grid.y, at most 65535 per launch.
  const dim3 block(32, 8);
  for (int n0 = 0; n0 < batch; n0 += 65535) {
    const int nb = batch - n0 < 65535 ? batch - n0 : 65535;
    const dim3 grid((unsigned)((channels + 31) / 32), (unsigned)nb);
    const size_t at = (size_t)n0 * hw * channels;
    float *dst = out + (size_t)n0 * channels;
    const cudaError_t err = dtype == SQZ_DTYPE_F16
                                ? SQZ_LAUNCH(global_avgpool<__half>, 0, grid, block, 0, stream,
                                             (const __half *)in + at, hw, channels, dst)
                                : SQZ_LAUNCH(global_avgpool<float>, 0, grid, block, 0, stream,
                                             (const float *)in + at, hw, channels, dst);
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

extern "C" cudaError_t sqz_launch_softmax(float *x, int rows, int cols, cudaStream_t stream) {
  return SQZ_LAUNCH(softmax, 0, dim3((unsigned)rows), dim3(256), 0, stream, x, cols);
}
