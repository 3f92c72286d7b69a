// Helpers shared by the ops' torch bindings (.cpp files; no CUDA headers).
#pragma once
#include <torch/extension.h>

#include "_dtype.h"

namespace zizi {

inline DType dtype_of(const torch::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case torch::kFloat: return DType::f32;
    case torch::kDouble: return DType::f64;
    case torch::kHalf: return DType::f16;
    case torch::kBFloat16: return DType::bf16;
    default: TORCH_CHECK(false, op, ": unsupported dtype ", t.scalar_type());
  }
  return DType::f32;
}

}  // namespace zizi
