// Loads and stores in each kernel's arithmetic type, shared by the ops' .cu files.
// Arithmetic is done in float (double for double inputs): half/bf16 lack the range for
// exp() in elu/selu/softplus and lose precision in products of three terms. Everything
// is __host__ __device__ so CI can run the per-element code on the CPU.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace zizi {
namespace {

template <typename T> struct Opmath { using type = float; };
template <> struct Opmath<double> { using type = double; };

template <typename T> __host__ __device__ inline typename Opmath<T>::type load(const T* p) {
  return static_cast<typename Opmath<T>::type>(*p);
}
template <> __host__ __device__ inline float load<__half>(const __half* p) { return __half2float(*p); }
template <> __host__ __device__ inline float load<__nv_bfloat16>(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}
template <typename T, typename A> __host__ __device__ inline void store(T* p, A v) { *p = static_cast<T>(v); }
template <> __host__ __device__ inline void store<__half, float>(__half* p, float v) { *p = __float2half_rn(v); }
template <> __host__ __device__ inline void store<__nv_bfloat16, float>(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}

}  // namespace
}  // namespace zizi
