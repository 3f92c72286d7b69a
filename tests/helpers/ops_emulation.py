"""The compiled ops' bindings emulated in PyTorch, for running kernel-path tests on the CPU.

Each fake has the signature of the binding in zizi/ops/<op>.cpp, repeats its argument
checks, and computes with the op's `*_kernel_ref` (float maths, one rounding to the
tensor's dtype, like the kernels). Installing them makes the public ops take the kernel
path (autograd built from kernels, layout handling, argument marshalling) on CPU tensors,
so the GPU test file runs in CI without a GPU and a bug in the tests or the wrappers
fails CI instead of a scarce GPU session.
"""

from __future__ import annotations

import types

import torch

from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud

CODES = {v: k for k, v in ba.ACT_CODES.items()}


def fake_bias_act(x, b, dy, dy2, dim, act, order, alpha, gain, clamp, stream):
    assert isinstance(stream, int)
    assert x.is_contiguous() or (
        x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
    ), "bias_act: x must be dense"
    assert 0 <= dim < max(x.ndim, 1) and order in (0, 1, 2)
    if b.numel():
        assert (
            b.dtype == x.dtype and b.ndim == 1 and b.shape[0] == x.shape[dim] and b.is_contiguous()
        )
    for t in (dy, dy2) if order else ():
        if t.numel() or t is dy:
            assert t.shape == x.shape and t.stride() == x.stride() and t.dtype == x.dtype
    assert not dy2.numel() or order == 2
    return ba.bias_act_kernel_ref(
        x,
        b if b.numel() else None,
        dy if order else None,
        dim,
        CODES[act],
        order,
        alpha,
        gain,
        clamp,
        dy2=dy2 if dy2.numel() else None,
    )


def fake_upfirdn2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1, stream):
    assert isinstance(stream, int) and x.ndim == 4
    assert f.dtype == torch.float32 and f.ndim == 2 and min(f.shape) >= 1, "upfirdn2d: bad filter"
    assert min(upx, upy, downx, downy) >= 1
    return ud.upfirdn2d_kernel_ref(x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1))


def install(
    monkeypatch,
    stream: int = 0,
    checked: bool = False,
    bias_act=fake_bias_act,
    upfirdn2d=fake_upfirdn2d,
) -> None:
    """Route both ops' public functions through the emulated bindings (pytest monkeypatch).

    `checked=False` always takes the kernel path. `checked=True` keeps the real decision
    (`Plugin.use`) and lets it run on CPU tensors, as if the bindings had just been
    built: the self-check then runs (or its cached verdict is read) on first use.
    """
    for mod, fake in (
        (ba, types.SimpleNamespace(bias_act=bias_act)),
        (ud, types.SimpleNamespace(upfirdn2d=upfirdn2d)),
    ):
        monkeypatch.setattr(mod._PLUGIN, "module", fake)
        monkeypatch.setattr(mod, "cuda_stream", lambda x: stream)
        if checked:
            monkeypatch.setattr(mod._PLUGIN, "_tried", True)
            monkeypatch.setattr(mod._PLUGIN, "error", None)
            monkeypatch.setattr(mod._PLUGIN, "device_types", ("cpu", "cuda"))
            monkeypatch.setattr(mod._PLUGIN, "verdicts", {})
            monkeypatch.setattr(mod._PLUGIN, "warned", False)
        else:
            monkeypatch.setattr(mod._PLUGIN, "use", lambda x: True)
