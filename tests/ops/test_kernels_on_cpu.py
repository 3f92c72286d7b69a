"""The CUDA kernels' own per-element code, run on the CPU and compared with the references.

nvcc compiles zizi/ops/<op>.cu as host code into a small shared library (the element
functions are __host__ __device__), loaded with ctypes; no GPU is needed. This checks
the kernels' maths, indexing, strides, fast-path templates and fp16/bf16 conversions in
CI; only launch configuration and real-device behaviour are left to test_ops_gpu.py.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch.utils.cpp_extension import COMMON_NVCC_FLAGS

from zizi.ops.bias_act import ACT_CODES, ACTIVATIONS, bias_act_kernel_ref
from zizi.ops.upfirdn2d import prepare_filter, upfirdn2d_ref

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")

HERE = Path(__file__).resolve().parent / "kernel_host"
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
TOL = {torch.float32: 2e-6, torch.float64: 1e-12, torch.float16: 1e-3, torch.bfloat16: 8e-3}


class BiasActArgs(ctypes.Structure):  # mirrors zizi/ops/bias_act.h
    _fields_ = [
        ("x", ctypes.c_void_p),
        ("b", ctypes.c_void_p),
        ("dy", ctypes.c_void_p),
        ("dy2", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("n", ctypes.c_int64),
        ("step", ctypes.c_int64),
        ("channels", ctypes.c_int64),
        ("act", ctypes.c_int),
        ("order", ctypes.c_int),
        ("alpha", ctypes.c_double),
        ("gain", ctypes.c_double),
        ("clamp", ctypes.c_double),
    ]


class Upfirdn2dArgs(ctypes.Structure):  # mirrors zizi/ops/upfirdn2d.h
    _fields_ = [
        ("x", ctypes.c_void_p),
        ("f", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        *[(k, ctypes.c_int64) for k in ("n", "c", "in_h", "in_w", "out_h", "out_w")],
        ("x_stride", ctypes.c_int64 * 4),
        ("out_stride", ctypes.c_int64 * 4),
        *[
            (k, ctypes.c_int)
            for k in ("up_x", "up_y", "down_x", "down_y", "pad_x0", "pad_y0", "f_h", "f_w")
        ],
        ("channels_last", ctypes.c_bool),
    ]


@pytest.fixture(scope="session")
def lib(tmp_path_factory) -> ctypes.CDLL:
    out = tmp_path_factory.mktemp("kernel_host") / "libzizi_host.so"
    cmd = [
        "nvcc",
        "-shared",
        "-Xcompiler",
        "-fPIC",
        "-std=c++17",
        *COMMON_NVCC_FLAGS,
        "-arch=sm_80",
        str(HERE / "bias_act_host.cu"),
        str(HERE / "upfirdn2d_host.cu"),
        "-o",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return ctypes.CDLL(str(out))


def host_bias_act(lib, x, b, dy, dim, act, order, alpha, gain, clamp, dy2=None):
    out = torch.empty_like(x)
    args = BiasActArgs(
        x.data_ptr(),
        b.data_ptr() if b is not None else None,
        dy.data_ptr() if dy is not None else None,
        dy2.data_ptr() if dy2 is not None else None,
        out.data_ptr(),
        x.numel(),
        max(x.stride(dim), 1),
        b.numel() if b is not None else 1,
        ACT_CODES[act],
        order,
        alpha,
        gain,
        clamp,
    )
    assert lib.zizi_bias_act_host(ctypes.byref(args), DTYPE_CODES[x.dtype]) == 0
    return out


@pytest.mark.parametrize("dtype", list(DTYPE_CODES))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_bias_act_kernel_code(lib, dtype, act):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 5, 3, 7, generator=g) * 4).to(dtype).to(memory_format=torch.channels_last)
    b = torch.randn(5, generator=g).to(dtype)
    dy = torch.randn(2, 5, 3, 7, generator=g).to(dtype).to(memory_format=torch.channels_last)
    x[0, 0, 0, :3] = torch.tensor([25.0, -25.0, 0.0], dtype=dtype)  # softplus threshold, zero
    alpha, gain = 0.2, 1.4
    for clamp in (-1.0, 0.8):
        for order in (0, 1, 2):
            got = host_bias_act(lib, x, b, dy if order else None, 1, act, order, alpha, gain, clamp)
            want = bias_act_kernel_ref(
                x.double(),
                b.double(),
                dy.double() if order else None,
                1,
                act,
                order,
                alpha,
                gain,
                clamp,
            )
            scale = want.abs().max().clamp(min=1).item()
            torch.testing.assert_close(
                got.double(),
                want,
                rtol=TOL[dtype],
                atol=TOL[dtype] * scale,
                msg=f"{act} order {order} clamp {clamp}",
            )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("act", ["elu", "selu", "tanh", "swish"])
def test_bias_act_kernel_second_order_edges(lib, dtype, act):
    """z == 0 ties (f''(0) = 0 for elu/selu, as PyTorch), ddx*dy formed in float (no fp16
    overflow), and an infinite dy outside the clamp gives 0, not NaN."""
    x = torch.tensor([[0.5, -0.5, 3.0, -3.0, -1.5, -1.0]], dtype=dtype)
    b = torch.tensor([-0.5], dtype=dtype)  # x + b == 0 exactly at the first element
    ddx = torch.full_like(x, 260.0)
    dy = torch.full_like(x, 260.0)  # 260 * 260 = 67600 > fp16's 65504; the results fit
    got = host_bias_act(lib, x, b, ddx, 0, act, 2, 0.2, 1.0, -1.0, dy2=dy).double()
    z = x.double() + b.double()
    want = torch.autograd.grad(
        torch.autograd.grad(
            _torch_act(act, z.requires_grad_()), z, create_graph=True, grad_outputs=dy.double()
        )[0],
        z,
        grad_outputs=ddx.double(),
    )[0]
    assert torch.isfinite(got).all()
    torch.testing.assert_close(
        got, want, rtol=TOL[dtype] * 2, atol=TOL[dtype] * want.abs().max().item()
    )
    if act in ("elu", "selu"):
        assert got[0, 0] == 0  # the tie
    inf_dy = torch.full_like(x, float("inf"))
    clamp = 0.1
    out = host_bias_act(lib, x, b, inf_dy, 0, act, 1, 0.2, 1.0, clamp).double()
    outside = (
        bias_act_kernel_ref(x.double(), b.double(), None, 0, act, 0, 0.2, 1.0, -1.0).abs() > clamp
    )
    assert outside.any() and (out[outside] == 0).all() and not out.isnan().any()


def _torch_act(act: str, z: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return {
        "elu": F.elu,
        "selu": F.selu,
        "tanh": torch.tanh,
        "swish": lambda t: t * torch.sigmoid(t),
    }[act](z)


def host_upfirdn2d(lib, x, fc, up, down, pad, generic=False):
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    fh, fw = fc.shape
    out_h = (x.shape[2] * upy + py0 + py1 - fh) // downy + 1
    out_w = (x.shape[3] * upx + px0 + px1 - fw) // downx + 1
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = torch.empty(x.shape[0], x.shape[1], out_h, out_w, dtype=x.dtype).to(memory_format=fmt)
    args = Upfirdn2dArgs(
        x.data_ptr(),
        fc.data_ptr(),
        out.data_ptr(),
        x.shape[0],
        x.shape[1],
        x.shape[2],
        x.shape[3],
        out_h,
        out_w,
        (ctypes.c_int64 * 4)(*x.stride()),
        (ctypes.c_int64 * 4)(*out.stride()),
        upx,
        upy,
        downx,
        downy,
        px0,
        py0,
        fh,
        fw,
        channels_last,
    )
    assert lib.zizi_upfirdn2d_host(ctypes.byref(args), DTYPE_CODES[x.dtype], int(generic)) == 0
    return out


CASES = [  # up, down, padding, taps: the three 4x4 fast paths, then general shapes
    ((1, 1), (1, 1), (1, 2, 1, 2), 4),
    ((2, 2), (1, 1), (2, 1, 2, 1), 4),
    ((1, 1), (2, 2), (1, 1, 1, 1), 4),
    ((3, 3), (2, 2), (1, -1, 2, 0), 3),
    ((2, 1), (1, 3), (0, 2, -1, 3), 5),
]


@pytest.mark.parametrize("dtype", list(DTYPE_CODES))
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("up,down,pad,taps", CASES)
def test_upfirdn2d_kernel_code(lib, dtype, fmt, up, down, pad, taps):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 9, 11, generator=g).to(dtype).to(memory_format=fmt)
    f = torch.randn(taps, taps + (taps == 5), generator=g)
    # gain 2 keeps the kernel's float32 filter exact, so float64 can be compared tightly.
    fc = prepare_filter(f, flip_filter=False, gain=2.0, dtype=torch.float32, device=x.device)
    want = upfirdn2d_ref(x.double(), f.double(), up, down, pad, False, 2.0)
    for generic in (False, True):
        got = host_upfirdn2d(lib, x, fc, up, down, pad, generic)
        assert got.shape == want.shape and got.is_contiguous(memory_format=fmt)
        scale = want.abs().max().item()
        torch.testing.assert_close(
            got.double(), want, rtol=TOL[dtype] * 4, atol=TOL[dtype] * scale * 4
        )
