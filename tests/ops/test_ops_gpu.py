"""Kernel parity: values and first/second-order gradients against the references.

Every test runs on two backends:
- `cuda`: the real kernels on a GPU (marked `gpu`, skipped where no CUDA device is
  present; ZIZI_OPS=cuda makes a failed build an error, not a silent fallback);
- `emulated`: on the CPU, with the compiled bindings replaced by their PyTorch
  emulation (tests/helpers/ops_emulation.py), so CI checks this file's logic and the
  ops' autograd wrappers without a GPU.
Tests of CUDA-only behaviour (streams, graphs, several devices, > 2³¹ elements) run on
the real GPU only.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import ops_emulation
from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float64: 1e-10}
FORMATS = [torch.contiguous_format, torch.channels_last]
ACTS = sorted(ba.ACTIVATIONS)


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.gpu), "emulated"])
def dev(request, monkeypatch) -> torch.device:
    if request.param == "cuda":
        monkeypatch.setenv("ZIZI_OPS", "cuda")
        yield torch.device("cuda")
        torch.cuda.synchronize()  # surface asynchronous kernel errors in this test
    else:
        ops_emulation.install(monkeypatch)
        yield torch.device("cpu")


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> None:
    scale = want.abs().max().clamp(min=1).item() if want.numel() else 1.0
    torch.testing.assert_close(got.float(), want.float(), rtol=TOL[dtype], atol=TOL[dtype] * scale)


def _grads(fn, x, b, dy):
    """y, the first-order grads, and the second-order (R1-shaped) grads of |dx|² + Σdb.

    The second order is taken only where the first-order grads depend on x or b (for
    `linear` they are constants); where it does not exist it is zero.
    """
    y = fn(x, b)
    inputs = [x] + ([b] if b is not None else [])
    grads = torch.autograd.grad(y, inputs, dy, create_graph=True)
    dx, db = grads[0], (grads[1] if b is not None else None)
    penalty = dx.float().square().sum() + (db.float().sum() if db is not None else 0)
    second = [None] * len(inputs)
    if penalty.requires_grad:
        second = torch.autograd.grad(penalty, inputs, allow_unused=True)
    second = [s if s is not None else torch.zeros_like(t) for s, t in zip(second, inputs)]
    return [y, dx, *([db] if db is not None else []), *second]


def _bias_act_both(dev, x, b, dy, dtype, **kw):
    """Run the op on `dev` in `dtype` and the reference in float32 (float64 for float64)."""
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    outs = []
    for impl, cast, device in ((ba.bias_act, dtype, dev), (ba.bias_act_ref, ref_dtype, x.device)):
        xi = x.detach().to(device=device, dtype=cast).requires_grad_()
        bi = b.detach().to(device=device, dtype=cast).requires_grad_() if b is not None else None
        outs.append(
            _grads(
                lambda x, b, impl=impl: impl(x, b, **kw), xi, bi, dy.to(device=device, dtype=cast)
            )
        )
    return outs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_parity(dev, dtype, fmt, act):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 37, 11, 13, generator=g).to(dtype)
    b = torch.randn(37, generator=g).to(dtype)
    x[:, :, 0, :4] = -b[None, :, None]  # deliberate ties z = x + b == 0 (common in fp16/bf16)
    x = x.to(dev).to(memory_format=fmt)
    b = b.to(dev)
    dy = torch.randn(x.shape, generator=g).to(dtype).to(dev)
    for clamp in (None, 0.7):
        # non-default alpha and gain: a swapped or ignored argument must show
        got, want = _bias_act_both(
            dev, x, b, dy, dtype, dim=1, act=act, alpha=0.3, gain=1.7, clamp=clamp
        )
        assert got[0].dtype == dtype and got[0].is_contiguous(memory_format=fmt)
        for a, r in zip(got, want):
            _close(a, r, dtype)


@pytest.mark.parametrize("act", ACTS)
def test_bias_act_gradgradcheck_float64(dev, act):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=g).to(dev).requires_grad_()
    b = torch.randn(5, dtype=torch.float64, generator=g).to(dev).requires_grad_()
    fn = lambda x, b: ba.bias_act(x, b, 1, act, 0.25, 1.3, 0.9)  # noqa: E731
    torch.testing.assert_close(fn(x, b), ba.bias_act_ref(x, b, 1, act, 0.25, 1.3, 0.9))
    assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))


def _layouts(dev):
    """(name, x, b, dim): inputs whose memory is not a fresh contiguous tensor, and odd shapes."""
    g = torch.Generator().manual_seed(6)
    base = torch.randn(4, 6, 5, 7, generator=g).to(dev)
    yield "sliced", base[:, ::2], torch.randn(3, generator=g).to(dev), 1
    yield (
        "stride0",
        torch.randn(1, 6, 1, 1, generator=g).to(dev).expand(3, 6, 4, 5),
        torch.randn(6, generator=g).to(dev),
        1,
    )
    yield (
        "offset",
        base.flatten()[17 : 17 + 2 * 6 * 5 * 7].view(2, 6, 5, 7),
        torch.randn(6, generator=g).to(dev),
        1,
    )
    yield (
        "empty",
        torch.randn(0, 6, 3, 3, generator=g).to(dev),
        torch.randn(6, generator=g).to(dev),
        1,
    )
    yield "2d", torch.randn(9, 12, generator=g).to(dev), torch.randn(12, generator=g).to(dev), 1
    yield (
        "dim2",
        torch.randn(2, 3, 8, 5, generator=g).to(dev),
        torch.randn(8, generator=g).to(dev),
        2,
    )
    yield "dim0", torch.randn(4, 3, generator=g).to(dev), torch.randn(4, generator=g).to(dev), 0
    yield "nobias", torch.randn(2, 3, 4, 4, generator=g).to(dev), None, 1


@pytest.mark.parametrize("act", ["lrelu", "swish", "selu"])
def test_bias_act_layouts(dev, act):
    for name, x, b, dim in _layouts(dev):
        dy = torch.randn(x.shape, device=dev)
        got, want = _bias_act_both(dev, x, b, dy, torch.float32, dim=dim, act=act, clamp=0.8)
        assert got[0].shape == x.shape, name
        for a, r in zip(got, want):
            assert a.shape == r.shape, name
            _close(a, r, torch.float32)


UPFIRDN_CASES = [
    # up, down, padding, filter: the 4x4 fast paths, then the general kernel on odd shapes
    (1, 1, (1, 2, 1, 2), (4, 4)),
    (2, 1, (2, 1, 2, 1), (4, 4)),
    (1, 2, (1, 1, 1, 1), (4, 4)),
    (2, 2, (1, 2, 2, 1), (4, 4)),
    (4, 1, (3, 2, 2, 3), (4, 4)),
    (3, 2, (1, -1, 2, 0), (3, 3)),
    ((2, 1), (1, 3), (0, 2, -1, 3), (5, 6)),
    (1, 1, (0, 1, 2, 0), (2, 5)),
    (2, 1, (2, 1, 2, 1), (4,)),  # separable 1-D filter
    (1, 2, (1, 2, 1, 2), (5,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("up,down,pad,fshape", UPFIRDN_CASES)
def test_upfirdn2d_parity(dev, dtype, fmt, flip, up, down, pad, fshape):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 19, 17, 23, generator=g).to(dtype).to(dev).to(memory_format=fmt)
    # Random filters are asymmetric and (in 2-D) not separable, so a transposed or flipped
    # filter on any path shows; gain 1.5 checks the gain is applied once.
    f = (torch.rand(fshape, generator=g) + 0.1).to(dev)
    outs = []
    for impl, cast, device in (
        (ud.upfirdn2d, dtype, dev),
        (ud.upfirdn2d_ref, torch.float32, "cpu"),
    ):
        xi = x.detach().to(device=device, dtype=cast).requires_grad_()
        y = impl(xi, f.to(device), up, down, pad, flip, 1.5)
        # dy requires grad: upfirdn2d is linear, so dx depends on dy only, and the second
        # backward (the kernel's backward differentiated again) is taken w.r.t. dy.
        dy = (
            torch.randn(y.shape, generator=g.manual_seed(2))
            .to(device=device, dtype=cast)
            .requires_grad_()
        )
        (dx,) = torch.autograd.grad(y, [xi], dy, create_graph=True)
        (ddy,) = torch.autograd.grad(dx.float().square().sum(), [dy])
        outs.append((y, dx, ddy))
    assert outs[0][0].is_contiguous(memory_format=fmt)
    for got, want in zip(*outs):
        assert got.shape == want.shape
        _close(got.cpu(), want, dtype)


def test_upfirdn2d_gradgradcheck_float64(dev):
    x = torch.randn(1, 2, 7, 5, dtype=torch.float64, device=dev, requires_grad=True)
    f = torch.randn(3, 4, dtype=torch.float64, device=dev)
    fn = lambda x: ud.upfirdn2d(x, f, 2, (1, 2), (1, 2, 0, 1))  # noqa: E731
    # The kernel takes a float32 filter: compare against the reference with that filter.
    f32 = f.float().double()
    torch.testing.assert_close(fn(x), ud.upfirdn2d_ref(x, f32, 2, (1, 2), (1, 2, 0, 1)))
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))


def test_upfirdn2d_rejects_an_empty_filter(dev):
    x = torch.randn(1, 1, 4, 4, device=dev)
    for f in (torch.ones(0, 3, device=dev), torch.ones(0, device=dev)):
        with pytest.raises(ValueError, match="non-empty"):
            ud.upfirdn2d(x, f)
        with pytest.raises(ValueError, match="non-empty"):
            ud.upfirdn2d_ref(x, f)


# ------------------------------------------------------------------ CUDA-only behaviour


@pytest.mark.gpu
def test_bias_act_large_tensor_and_grid_stride(monkeypatch):
    """More than 2³¹ elements (int64 indexing) and a launch whose grid-stride loop wraps."""
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    n = 2**31 + 2**20 + 3
    x = torch.empty(n, dtype=torch.float16, device="cuda")
    x[: 2**20].normal_()
    x[2**20 :].fill_(-1.5)
    x[-7:] = torch.tensor([3, -3, 0.5, -0.5, 2, -2, 1], dtype=torch.float16, device="cuda")
    y = ba.bias_act(x.view(1, n), None, 1, "lrelu", 0.2, 2.0)
    torch.cuda.synchronize()
    for sl in (slice(0, 2**20), slice(2**31 - 5, 2**31 + 5), slice(n - 7, n)):
        _close(y[0, sl], ba.bias_act_ref(x[sl].float(), None, 0, "lrelu", 0.2, 2.0), torch.float16)
    del x, y
    torch.cuda.empty_cache()


@pytest.mark.gpu
def test_ops_on_a_side_stream_and_in_a_cuda_graph(monkeypatch):
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    x = torch.randn(4, 8, 16, 16, device="cuda")
    b = torch.randn(8, device="cuda")
    f = torch.rand(4, 3, device="cuda")

    def run(x):
        return ud.upfirdn2d(ba.bias_act(x, b, 1, "lrelu"), f, 2, 1, (2, 1, 1, 1))

    want = run(x)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        got = run(x)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    torch.testing.assert_close(got, want)

    static_x = x.clone()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm-up outside capture, as CUDA graphs require
        run(static_x)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = run(static_x)
    static_x.copy_(x * 2)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(static_y, run(x * 2))


@pytest.mark.gpu
def test_ops_on_a_second_device(monkeypatch):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    torch.cuda.set_device(0)
    x = torch.randn(2, 4, 8, 8, device="cuda:1")
    b = torch.randn(4, device="cuda:1")
    f = torch.rand(3, 3, device="cuda:1")
    y = ud.upfirdn2d(ba.bias_act(x, b, 1, "swish"), f, 1, 2, 1)
    torch.cuda.synchronize(1)
    want = ud.upfirdn2d_ref(ba.bias_act_ref(x.cpu(), b.cpu(), 1, "swish"), f.cpu(), 1, 2, 1)
    assert y.device == torch.device("cuda:1")
    _close(y.cpu(), want, torch.float32)
