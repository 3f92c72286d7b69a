// Fused bias + activation + gain + clamp, written from the definitions in bias_act.py.
// No torch headers: the binding lives in bias_act.cpp, so this file compiles with nvcc
// alone (that is what the CI compile check does).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "bias_act.h"
#include "_elementwise.cuh"

namespace zizi {
namespace {

// f(z), f'(z) and f''(z) for each activation. Branch points follow PyTorch's own
// backward formulas (relu/lrelu use z > 0; softplus switches to identity above 20;
// elu/selu take f' from the z <= 0 branch but f'' from z < 0, so f''(0) = 0 exactly as
// PyTorch's double backward gives: fp16/bf16 produce exact ties z == 0 often).
template <typename A> struct Derivs { A f, d1, d2; };

template <typename A> __host__ __device__ inline Derivs<A> activate(int act, A z, A alpha) {
  const A one = A(1), zero = A(0);
  switch (act) {
    case 1: return {z > zero ? z : zero, z > zero ? one : zero, zero};
    case 2: return {z > zero ? z : alpha * z, z > zero ? one : alpha, zero};
    case 3: { A t = std::tanh(z); A d = one - t * t; return {t, d, A(-2) * t * d}; }
    case 4: { A s = one / (one + std::exp(-z)); A d = s * (one - s); return {s, d, d * (one - A(2) * s)}; }
    case 5: { if (z > zero) return {z, one, zero}; A e = std::exp(z); return {e - one, e, z < zero ? e : zero}; }
    case 6: {
      // SELU constants (Klambauer et al. 2017).
      const A scale = A(1.0507009873554804934193349852946);
      const A a = A(1.6732632423543772848170429916717);
      if (z > zero) return {scale * z, scale, zero};
      A e = scale * a * std::exp(z);
      return {e - scale * a, e, z < zero ? e : zero};
    }
    case 7: {
      if (z > A(20)) return {z, one, zero};
      A s = one / (one + std::exp(-z));
      return {std::log1p(std::exp(z)), s, s * (one - s)};
    }
    case 8: {
      A s = one / (one + std::exp(-z));
      A d = s * (one - s);
      return {z * s, s + z * d, d * (A(2) + z * (one - A(2) * s))};
    }
    default: return {z, one, zero};
  }
}

// Element i of the output (index in memory order; x, dy and out share one layout).
template <typename T>
__host__ __device__ inline void bias_act_element(const BiasActArgs& p, int64_t i) {
  using A = typename Opmath<T>::type;
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  const A gain = A(p.gain), clamp = A(p.clamp);
  A z = load(static_cast<const T*>(p.x) + i);
  if (b) z += load(b + (i / p.step) % p.channels);
  Derivs<A> d = activate<A>(p.act, z, A(p.alpha));
  A v = d.f * gain;
  if (p.order == 0) {
    if (clamp >= A(0)) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
    store(out + i, v);
    return;
  }
  // Clamping passes the gradient where |v| <= clamp, as torch.clamp's backward does; a
  // select, not a multiply by 0, so an infinite dy outside the clamp gives 0, not NaN.
  const bool pass = clamp < A(0) || (v >= -clamp && v <= clamp);
  A g = p.order == 1 ? d.d1 : d.d2;
  // Order 2 gets ddx and dy separately and multiplies them here in float (opmath):
  // forming ddx * dy in fp16/bf16 first would round twice and can overflow fp16.
  A gy = load(static_cast<const T*>(p.dy) + i);
  if (p.dy2) gy *= load(static_cast<const T*>(p.dy2) + i);
  store(out + i, pass ? gy * g * gain : A(0));
}

template <typename T>
__global__ void bias_act_kernel(BiasActArgs p) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n;
       i += (int64_t)blockDim.x * gridDim.x) {
    bias_act_element<T>(p, i);
  }
}

template <typename T>
const char* launch(const BiasActArgs& p, cudaStream_t stream) {
  if (p.n == 0) return nullptr;
  const int threads = 256;
  int64_t blocks = (p.n + threads - 1) / threads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;  // grid-stride loop covers the rest
  bias_act_kernel<T><<<(unsigned)blocks, threads, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* bias_act_launch(const BiasActArgs& args, DType dtype, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::f32: return launch<float>(args, s);
    case DType::f64: return launch<double>(args, s);
    case DType::f16: return launch<__half>(args, s);
    case DType::bf16: return launch<__nv_bfloat16>(args, s);
  }
  return "bias_act: unsupported dtype";
}

}  // namespace zizi
