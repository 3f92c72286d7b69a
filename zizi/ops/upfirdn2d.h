// Upsample, pad, FIR-filter, downsample: the kernel launcher shared by upfirdn2d.cu
// (device code, no torch headers) and upfirdn2d.cpp (the torch binding).
#pragma once
#include <cstdint>

#include "_dtype.h"

namespace zizi {

struct Upfirdn2dArgs {
  const void* x;       // input [N, C, inH, inW], any strides
  const float* f;      // correlation filter [fh, fw], contiguous, already flipped and scaled
  void* out;           // output [N, C, outH, outW], any strides
  int64_t n, c, in_h, in_w, out_h, out_w;
  int64_t x_stride[4];    // strides of x in elements, in N, C, H, W order
  int64_t out_stride[4];  // strides of out in elements
  int up_x, up_y, down_x, down_y;
  int pad_x0, pad_y0;  // leading padding (negative crops); trailing padding is implied by out size
  int f_h, f_w;
  bool channels_last;  // decompose the thread index with C fastest (coalesced for NHWC)
};

// Launches on `stream` (a cudaStream_t). Returns nullptr on success, else the CUDA error.
const char* upfirdn2d_launch(const Upfirdn2dArgs& args, DType dtype, void* stream);

}  // namespace zizi
