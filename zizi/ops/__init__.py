"""Low-level ops the networks are built from.

Each op sits in one module with its public function and a pure-PyTorch reference
(`<op>_ref`) beside it, next to its CUDA kernel (`<op>.cu`, `<op>.cpp`, `<op>.h`). The
public function picks the kernel for CUDA tensors and the reference otherwise, as
`ZIZI_OPS=auto|cuda|ref` allows; `_build.py` builds and caches the kernels, and a kernel
is used only once it has agreed with its reference on the device (`_selfcheck.py`).
The networks call only the public functions.
"""
