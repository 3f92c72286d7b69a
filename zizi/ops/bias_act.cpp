// Torch binding for bias_act.cu: checks tensors, picks the dtype, calls the launcher.
// Uses no CUDA headers (the CUDA stream arrives from Python as an integer), so CI can
// compile this file against a CPU-only torch.
#include <torch/extension.h>

#include "_binding.h"
#include "bias_act.h"

namespace {

// x, b (may be empty), dy (may be empty, orders 1 and 2), dy2 (may be empty; order 2's
// second factor) -> a tensor like x.
torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, torch::Tensor dy, torch::Tensor dy2,
                       int64_t dim, int64_t act,
                       int64_t order, double alpha, double gain, double clamp, int64_t stream) {
  TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
  TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be dense");
  TORCH_CHECK(dim >= 0 && dim < std::max<int64_t>(x.dim(), 1), "bias_act: dim out of range");
  TORCH_CHECK(order >= 0 && order <= 2, "bias_act: order must be 0, 1 or 2");
  const bool has_b = b.numel() > 0;
  if (has_b) {
    TORCH_CHECK(b.device() == x.device() && b.scalar_type() == x.scalar_type(),
                "bias_act: b must match x's device and dtype");
    TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(dim) && b.is_contiguous(),
                "bias_act: b must be contiguous with x.shape[dim] elements");
  }
  if (order > 0) {
    TORCH_CHECK(dy.sizes() == x.sizes() && dy.strides() == x.strides() &&
                    dy.scalar_type() == x.scalar_type() && dy.device() == x.device(),
                "bias_act: dy must have x's shape, strides, dtype and device");
  }
  const bool has_dy2 = dy2.numel() > 0;
  if (has_dy2) {
    TORCH_CHECK(order == 2 && dy2.sizes() == x.sizes() && dy2.strides() == x.strides() &&
                    dy2.scalar_type() == x.scalar_type() && dy2.device() == x.device(),
                "bias_act: dy2 (order 2 only) must have x's shape, strides, dtype and device");
  }
  c10::OptionalDeviceGuard guard(x.device());
  torch::Tensor out = torch::empty_like(x);  // keeps x's strides (NCHW or channels_last)

  zizi::BiasActArgs args;
  args.x = x.data_ptr();
  args.b = has_b ? b.data_ptr() : nullptr;
  args.dy = order > 0 ? dy.data_ptr() : nullptr;
  args.dy2 = has_dy2 ? dy2.data_ptr() : nullptr;
  args.out = out.data_ptr();
  args.n = x.numel();
  args.step = x.dim() > 0 ? std::max<int64_t>(x.stride(dim), 1) : 1;
  args.channels = has_b ? b.size(0) : 1;
  args.act = static_cast<int>(act);
  args.order = static_cast<int>(order);
  args.alpha = alpha;
  args.gain = gain;
  args.clamp = clamp;
  const char* err =
      zizi::bias_act_launch(args, zizi::dtype_of(x, "bias_act"), reinterpret_cast<void*>(static_cast<intptr_t>(stream)));
  TORCH_CHECK(err == nullptr, "bias_act: kernel launch failed: ", err ? err : "");
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("bias_act", &bias_act, "Fused bias + activation + gain + clamp (CUDA).");
}
