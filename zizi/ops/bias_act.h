// Fused bias + activation + gain + clamp: the kernel launcher shared by bias_act.cu
// (device code, no torch headers) and bias_act.cpp (the torch binding).
#pragma once
#include <cstdint>

#include "_dtype.h"

namespace zizi {

// Activations, in the order of ACTIVATION_CODES in bias_act.py.
enum class Act : int {
  linear = 0, relu = 1, lrelu = 2, tanh = 3, sigmoid = 4,
  elu = 5, selu = 6, softplus = 7, swish = 8
};

struct BiasActArgs {
  const void* x;      // input, dense in any memory order, n elements
  const void* b;      // bias of `channels` elements, or nullptr
  const void* dy;     // incoming gradient, same layout as x (orders 1 and 2), else nullptr
  const void* dy2;    // order 2: a second factor multiplied into dy in float, or nullptr
  void* out;          // output, same layout as x
  int64_t n;          // number of elements
  int64_t step;       // memory stride of the bias dimension
  int64_t channels;   // size of the bias dimension
  int act;            // Act
  int order;          // 0: clamp(act(x+b)*gain); 1: dy*gain*act'(x+b)*mask; 2: dy*dy2*gain*act''(x+b)*mask
  double alpha;       // lrelu's negative slope
  double gain;        // output scale
  double clamp;       // clamp bound; negative for none
};

// Launches on `stream` (a cudaStream_t). Returns nullptr on success, else the CUDA error.
const char* bias_act_launch(const BiasActArgs& args, DType dtype, void* stream);

}  // namespace zizi
