// upfirdn2d written from its definition in upfirdn2d.py: out[j] = sum_k padded[j*down + k]
// * fc[k], where padded is the zero-inserted, padded input. Each thread computes one
// output pixel and visits only the taps that land on real (not inserted-zero) samples,
// so 2x upsampling reads a quarter of the taps. No torch headers: see upfirdn2d.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "upfirdn2d.h"
#include "_elementwise.cuh"

namespace zizi {
namespace {

// Non-negative remainder (C++ % keeps the dividend's sign).
__host__ __device__ inline int mod_pos(int a, int m) { int r = a % m; return r < 0 ? r + m : r; }

// Read-only data cache on the GPU; a plain load when CI runs this on the CPU.
__host__ __device__ inline float load_filter(const float* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// Output pixel i (index with W or, for channels_last, C fastest). The element functions
// are __host__ __device__ so that CI can run them on the CPU (tests/ops/kernel_host).
// UP, DOWN, F > 0 fix the factors (both axes) and the square filter size at compile time
// so the tap loops unroll: the fast paths for StyleGAN's 2x resampling with 4x4 filters.
// 0 means "read it from the arguments" (the general kernel).
template <typename T, int UP, int DOWN, int F>
__host__ __device__ inline void upfirdn2d_element(const Upfirdn2dArgs& p, int64_t i) {
  using A = typename Opmath<T>::type;
  const int up_x = UP ? UP : p.up_x, up_y = UP ? UP : p.up_y;
  const int down_x = DOWN ? DOWN : p.down_x, down_y = DOWN ? DOWN : p.down_y;
  const int f_h = F ? F : p.f_h, f_w = F ? F : p.f_w;
  const int up_h = (int)p.in_h * up_y, up_w = (int)p.in_w * up_x;  // zero-inserted size
  int64_t r = i, n, c, oy, ox;
  if (p.channels_last) {
    c = r % p.c; r /= p.c; ox = r % p.out_w; r /= p.out_w; oy = r % p.out_h; n = r / p.out_h;
  } else {
    ox = r % p.out_w; r /= p.out_w; oy = r % p.out_h; r /= p.out_h; c = r % p.c; n = r / p.c;
  }
  const T* xp = static_cast<const T*>(p.x) + n * p.x_stride[0] + c * p.x_stride[1];
  // Position in the zero-inserted image of tap (0, 0): u = j + k - pad. Only taps with
  // u divisible by `up` land on real samples; start at the first and step by `up`.
  const int uy0 = (int)oy * down_y - p.pad_y0, ux0 = (int)ox * down_x - p.pad_x0;
  const int ky0 = mod_pos(-uy0, up_y), kx0 = mod_pos(-ux0, up_x);
  A acc = A(0);
#pragma unroll
  for (int ky = ky0; ky < f_h; ky += up_y) {
    const int uy = uy0 + ky;
    if (uy < 0 || uy >= up_h) continue;
    const T* row = xp + (int64_t)(uy / up_y) * p.x_stride[2];
    const float* frow = p.f + ky * f_w;
#pragma unroll
    for (int kx = kx0; kx < f_w; kx += up_x) {
      const int ux = ux0 + kx;
      if (ux < 0 || ux >= up_w) continue;
      acc += load(row + (int64_t)(ux / up_x) * p.x_stride[3]) * A(load_filter(frow + kx));
    }
  }
  store(static_cast<T*>(p.out) + n * p.out_stride[0] + c * p.out_stride[1] + oy * p.out_stride[2] +
            ox * p.out_stride[3],
        acc);
}

template <typename T, int UP, int DOWN, int F>
__global__ void upfirdn2d_kernel(Upfirdn2dArgs p) {
  const int64_t total = p.n * p.c * p.out_h * p.out_w;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)blockDim.x * gridDim.x) {
    upfirdn2d_element<T, UP, DOWN, F>(p, i);
  }
}

template <typename T, int UP, int DOWN, int F>
const char* launch(const Upfirdn2dArgs& p, cudaStream_t stream) {
  const int64_t total = p.n * p.c * p.out_h * p.out_w;
  if (total == 0) return nullptr;
  const int threads = 256;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;  // grid-stride loop covers the rest
  upfirdn2d_kernel<T, UP, DOWN, F><<<(unsigned)blocks, threads, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <typename T>
const char* dispatch(const Upfirdn2dArgs& p, cudaStream_t stream) {
  const bool square4 = p.f_h == 4 && p.f_w == 4;
  const bool same_up = p.up_x == p.up_y, same_down = p.down_x == p.down_y;
  if (square4 && same_up && same_down) {
    if (p.up_x == 1 && p.down_x == 1) return launch<T, 1, 1, 4>(p, stream);
    if (p.up_x == 2 && p.down_x == 1) return launch<T, 2, 1, 4>(p, stream);
    if (p.up_x == 1 && p.down_x == 2) return launch<T, 1, 2, 4>(p, stream);
  }
  return launch<T, 0, 0, 0>(p, stream);
}

}  // namespace

const char* upfirdn2d_launch(const Upfirdn2dArgs& args, DType dtype, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::f32: return dispatch<float>(args, s);
    case DType::f64: return dispatch<double>(args, s);
    case DType::f16: return dispatch<__half>(args, s);
    case DType::bf16: return dispatch<__nv_bfloat16>(args, s);
  }
  return "upfirdn2d: unsupported dtype";
}

}  // namespace zizi
