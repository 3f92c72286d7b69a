// Torch binding for upfirdn2d.cu: checks tensors, computes the output size, calls the
// launcher. Uses no CUDA headers (the stream arrives from Python as an integer), so CI
// can compile this file against a CPU-only torch.
#include <torch/extension.h>

#include "_binding.h"
#include "upfirdn2d.h"

namespace {

// x [N, C, H, W]; f: the 2-D correlation filter, float32, gain and flip already applied.
torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t up_x, int64_t up_y, int64_t down_x,
                        int64_t down_y, int64_t pad_x0, int64_t pad_x1, int64_t pad_y0,
                        int64_t pad_y1, int64_t stream) {
  TORCH_CHECK(x.is_cuda() && x.dim() == 4, "upfirdn2d: x must be a 4-D CUDA tensor");
  TORCH_CHECK(f.device() == x.device() && f.scalar_type() == torch::kFloat && f.dim() == 2,
              "upfirdn2d: f must be a 2-D float32 tensor on x's device");
  TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1,
              "upfirdn2d: up and down must be >= 1");
  f = f.contiguous();
  const int64_t f_h = f.size(0), f_w = f.size(1);
  TORCH_CHECK(f_h >= 1 && f_w >= 1, "upfirdn2d: the filter is empty");
  const int64_t out_h = (x.size(2) * up_y + pad_y0 + pad_y1 - f_h + down_y) / down_y;
  const int64_t out_w = (x.size(3) * up_x + pad_x0 + pad_x1 - f_w + down_x) / down_x;
  TORCH_CHECK(out_h >= 1 && out_w >= 1, "upfirdn2d: padding and filter leave an empty output");
  // Pixel offsets are int64; only positions within one (zero-inserted, padded) image are
  // int: the padded extent on both sides plus the filter, and the decimated output's
  // reach (out * down), must all stay well inside int range.
  const int64_t lim = int64_t{1} << 30;
  TORCH_CHECK(x.size(2) * up_y + std::abs(pad_y0) + std::abs(pad_y1) + f_h < lim &&
                  x.size(3) * up_x + std::abs(pad_x0) + std::abs(pad_x1) + f_w < lim &&
                  out_h * down_y + f_h < lim && out_w * down_x + f_w < lim,
              "upfirdn2d: image too large for the kernel's index arithmetic");

  c10::OptionalDeviceGuard guard(x.device());
  const bool channels_last = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  torch::Tensor out = torch::empty({x.size(0), x.size(1), out_h, out_w},
                                   x.options().memory_format(channels_last
                                                                 ? at::MemoryFormat::ChannelsLast
                                                                 : at::MemoryFormat::Contiguous));
  zizi::Upfirdn2dArgs args;
  args.x = x.data_ptr();
  args.f = f.data_ptr<float>();
  args.out = out.data_ptr();
  args.n = x.size(0);
  args.c = x.size(1);
  args.in_h = x.size(2);
  args.in_w = x.size(3);
  args.out_h = out_h;
  args.out_w = out_w;
  for (int d = 0; d < 4; ++d) {
    args.x_stride[d] = x.stride(d);
    args.out_stride[d] = out.stride(d);
  }
  args.up_x = static_cast<int>(up_x);
  args.up_y = static_cast<int>(up_y);
  args.down_x = static_cast<int>(down_x);
  args.down_y = static_cast<int>(down_y);
  args.pad_x0 = static_cast<int>(pad_x0);
  args.pad_y0 = static_cast<int>(pad_y0);
  args.f_h = static_cast<int>(f_h);
  args.f_w = static_cast<int>(f_w);
  args.channels_last = channels_last;
  const char* err = zizi::upfirdn2d_launch(args, zizi::dtype_of(x, "upfirdn2d"),
                                           reinterpret_cast<void*>(static_cast<intptr_t>(stream)));
  TORCH_CHECK(err == nullptr, "upfirdn2d: kernel launch failed: ", err ? err : "");
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upfirdn2d", &upfirdn2d, "Upsample, pad, FIR filter, downsample (CUDA).");
}
