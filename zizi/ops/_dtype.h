// Element types the kernels are instantiated for; shared by every op's launcher header.
#pragma once

namespace zizi {

enum class DType : int { f32 = 0, f64 = 1, f16 = 2, bf16 = 3 };

}  // namespace zizi
