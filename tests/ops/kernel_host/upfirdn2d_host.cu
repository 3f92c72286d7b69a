// Runs upfirdn2d.cu's per-pixel code on the CPU (test_kernels_on_cpu.py), through the
// same fast-path selection as the GPU's dispatch, or forced onto the general kernel.
#include "../../../zizi/ops/upfirdn2d.cu"

namespace {

template <typename T, int UP, int DOWN, int F>
void run(const zizi::Upfirdn2dArgs& p) {
  const int64_t total = p.n * p.c * p.out_h * p.out_w;
  for (int64_t i = 0; i < total; ++i) zizi::upfirdn2d_element<T, UP, DOWN, F>(p, i);
}

template <typename T>
void dispatch_host(const zizi::Upfirdn2dArgs& p, bool generic) {
  const bool fast = !generic && p.f_h == 4 && p.f_w == 4 && p.up_x == p.up_y && p.down_x == p.down_y;
  if (fast && p.up_x == 1 && p.down_x == 1) return run<T, 1, 1, 4>(p);
  if (fast && p.up_x == 2 && p.down_x == 1) return run<T, 2, 1, 4>(p);
  if (fast && p.up_x == 1 && p.down_x == 2) return run<T, 1, 2, 4>(p);
  run<T, 0, 0, 0>(p);
}

}  // namespace

extern "C" int zizi_upfirdn2d_host(const zizi::Upfirdn2dArgs* p, int dtype, int generic) {
  switch (static_cast<zizi::DType>(dtype)) {
    case zizi::DType::f32: dispatch_host<float>(*p, generic); return 0;
    case zizi::DType::f64: dispatch_host<double>(*p, generic); return 0;
    case zizi::DType::f16: dispatch_host<__half>(*p, generic); return 0;
    case zizi::DType::bf16: dispatch_host<__nv_bfloat16>(*p, generic); return 0;
  }
  return 1;
}
