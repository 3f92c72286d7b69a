"""Low-level ops the networks are built from.

Each op sits in one module with its public function and a pure-PyTorch reference
(`<op>_ref`) beside it; a CUDA kernel, when built, is chosen once per call site by
`ZIZI_OPS=auto|cuda|ref`. The networks call only the public functions.
"""
