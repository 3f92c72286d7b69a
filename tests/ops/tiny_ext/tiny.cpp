// The smallest extension the build machinery can compile in CI: pybind11 only (no torch
// headers), so it builds in seconds rather than the minute a torch binding takes.
#include <pybind11/pybind11.h>

static int add_one(int x) { return x + 1; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("add_one", &add_one, "x + 1"); }
