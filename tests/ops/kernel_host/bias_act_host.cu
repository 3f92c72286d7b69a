// Runs bias_act.cu's per-element code on the CPU (test_kernels_on_cpu.py): the same
// source the GPU runs, compiled by nvcc as host code, so CI checks the kernel's maths.
#include "../../../zizi/ops/bias_act.cu"

extern "C" int zizi_bias_act_host(const zizi::BiasActArgs* p, int dtype) {
  for (int64_t i = 0; i < p->n; ++i) {
    switch (static_cast<zizi::DType>(dtype)) {
      case zizi::DType::f32: zizi::bias_act_element<float>(*p, i); break;
      case zizi::DType::f64: zizi::bias_act_element<double>(*p, i); break;
      case zizi::DType::f16: zizi::bias_act_element<__half>(*p, i); break;
      case zizi::DType::bf16: zizi::bias_act_element<__nv_bfloat16>(*p, i); break;
      default: return 1;
    }
  }
  return 0;
}
