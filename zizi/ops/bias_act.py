"""Fused bias + activation + gain + clamp: `act(x + b) * gain`, clamped to ±clamp.

Every StyleGAN2 layer ends in this op. The reference path is plain PyTorch and is
differentiable to any order (R1 and path-length regularisers need double backward).
The CUDA kernel (bias_act.cu) fuses the whole op into one pass over memory; its autograd
is built from the same kernel: the gradient is `dy * gain * act'(x + b)` (masked where the
clamp bit), and the gradient of that gradient uses `act''`. So first- and second-order
gradients stay fused; a third order is not supported on the kernel path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import torch
import torch.nn.functional as F

from zizi.ops._build import Plugin, cuda_stream, op_spec, register
from zizi.ops._selfcheck import Comparison, pairs, second_order, seeded

Activation = Literal[
    "linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"
]


@dataclass(frozen=True)
class ActivationSpec:
    fn: Callable[[torch.Tensor, float], torch.Tensor]  # (x, alpha) -> y
    def_alpha: float  # default slope/scale parameter (lrelu's negative slope)
    def_gain: float  # gain that keeps activations' second moment ~1 (He et al.)


ACTIVATIONS: dict[str, ActivationSpec] = {
    "linear": ActivationSpec(lambda x, a: x, 0.0, 1.0),
    "relu": ActivationSpec(lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": ActivationSpec(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": ActivationSpec(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": ActivationSpec(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": ActivationSpec(lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": ActivationSpec(lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": ActivationSpec(lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": ActivationSpec(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def resolve(act: str, alpha: float | None, gain: float | None) -> tuple[float, float]:
    """Fill in an activation's default alpha and gain; reject unknown names."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of {sorted(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    return (
        spec.def_alpha if alpha is None else float(alpha),
        spec.def_gain if gain is None else float(gain),
    )


def bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Reference: `clamp(act(x + b, alpha) * gain, -clamp, clamp)`; b broadcasts along `dim`."""
    alpha, gain = resolve(act, alpha, gain)
    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias of shape {tuple(b.shape)} does not match dim {dim} of {tuple(x.shape)}"
            )
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = ACTIVATIONS[act].fn(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Bias + activation + gain + clamp; the CUDA kernel when available, else the reference."""
    return (_bias_act_cuda if _PLUGIN.use(x) else bias_act_ref)(x, b, dim, act, alpha, gain, clamp)


def uses_kernel(x: torch.Tensor) -> bool:
    """Whether `bias_act(x, ...)` runs as the one-pass CUDA kernel (else the reference).

    Layers ask before they fold the gain and bias elsewhere: with the kernel, bias, act,
    gain and clamp cost one pass together; with the reference each costs a pass of its own.
    """
    return _PLUGIN.use(x)


# ---------------------------------------------------------------------------- kernel path

# Activation codes shared with bias_act.h's `Act`.
ACT_CODES: dict[str, int] = {
    name: i
    for i, name in enumerate(
        ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
    )
}
_SELU_SCALE = 1.0507009873554804934193349852946  # Klambauer et al. (2017)
_SELU_ALPHA = 1.6732632423543772848170429916717


class Kernel(Protocol):
    """The kernel's contract: `order` 0 is the op, 1 and 2 multiply `dy` by act' and act''."""

    def __call__(
        self,
        x: torch.Tensor,
        b: torch.Tensor | None,
        dy: torch.Tensor | None,
        dim: int,
        act: str,
        order: int,
        alpha: float,
        gain: float,
        clamp: float,
        dy2: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


def derivatives(
    z: torch.Tensor, act: str, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f(z), f'(z), f''(z) from explicit formulas: the maths bias_act.cu implements."""
    one, zero = torch.ones_like(z), torch.zeros_like(z)
    pos = z > 0
    if act == "linear":
        return z, one, zero
    if act == "relu":
        return torch.where(pos, z, zero), pos.to(z.dtype), zero
    if act == "lrelu":
        return torch.where(pos, z, alpha * z), torch.where(pos, one, alpha * one), zero
    if act == "tanh":
        t = torch.tanh(z)
        return t, 1 - t * t, -2 * t * (1 - t * t)
    if act == "sigmoid":
        s = 1 / (1 + torch.exp(-z))
        return s, s * (1 - s), s * (1 - s) * (1 - 2 * s)
    if act in ("elu", "selu"):
        # PyTorch's elu backward takes f' from z <= 0 but its double backward takes f''
        # from z < 0, so f''(0) = 0 (ties z == 0 are common in fp16/bf16).
        scale, a = (1.0, 1.0) if act == "elu" else (_SELU_SCALE, _SELU_ALPHA)
        e = scale * a * torch.exp(torch.where(pos, zero, z))  # exp only where it is used
        return (
            torch.where(pos, scale * z, e - scale * a),
            torch.where(pos, scale * one, e),
            torch.where(z < 0, e, zero),
        )
    if act == "softplus":
        big = z > 20  # PyTorch's threshold: identity above it
        s = 1 / (1 + torch.exp(-z))
        return (
            torch.where(big, z, torch.log1p(torch.exp(torch.where(big, zero, z)))),
            torch.where(big, one, s),
            torch.where(big, zero, s * (1 - s)),
        )
    if act == "swish":
        s = 1 / (1 + torch.exp(-z))
        d = s * (1 - s)
        return z * s, s + z * d, d * (2 + z * (1 - 2 * s))
    raise ValueError(f"unknown activation {act!r}")


def bias_act_kernel_ref(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dy: torch.Tensor | None,
    dim: int,
    act: str,
    order: int,
    alpha: float,
    gain: float,
    clamp: float,
    dy2: torch.Tensor | None = None,
) -> torch.Tensor:
    """The CUDA kernel's computation in PyTorch, so CPU tests can drive the autograd below.

    Like the kernel, it computes in float (double for float64) and rounds once to x's
    dtype at the end; order 2 multiplies `dy * dy2` inside, in that precision.
    """
    out_dtype = x.dtype
    opmath = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(opmath)
    z = x if b is None else x + b.to(opmath).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    f, d1, d2 = derivatives(z, act, alpha)
    v = f * gain
    if order == 0:
        return (v.clamp(-clamp, clamp) if clamp >= 0 else v).to(out_dtype)
    assert dy is not None
    gy = dy.to(opmath) if dy2 is None else dy.to(opmath) * dy2.to(opmath)
    out = gy * ((d1 if order == 1 else d2) * gain)
    if clamp >= 0:  # a select, so an infinite dy outside the clamp gives 0 (not inf * 0)
        out = torch.where((v >= -clamp) & (v <= clamp), out, torch.zeros_like(out))
    return out.to(out_dtype)


def make_bias_act(kernel: Kernel) -> Callable[..., torch.Tensor]:
    """bias_act with autograd built from `kernel` (the CUDA one, or its emulation in tests)."""

    def sum_to_bias(g: torch.Tensor, dim: int) -> torch.Tensor:
        return g.sum([i for i in range(g.ndim) if i != dim])

    class Grad(torch.autograd.Function):
        """dx = dy * gain * act'(x + b) * mask, itself differentiable once more."""

        @staticmethod
        def forward(ctx, dy, x, b, dim, act, alpha, gain, clamp):  # type: ignore[override]
            ctx.save_for_backward(dy, x, b)
            ctx.cfg = (dim, act, alpha, gain, clamp)
            return kernel(x, b, dy, dim, act, 1, alpha, gain, clamp)

        @staticmethod
        def backward(ctx, ddx):  # type: ignore[override]
            dy, x, b = ctx.saved_tensors
            dim, act, alpha, gain, clamp = ctx.cfg
            d_dy = d_x = d_b = None
            if ctx.needs_input_grad[0]:
                d_dy = Grad.apply(ddx, x, b, dim, act, alpha, gain, clamp)
            # linear, relu and lrelu have act'' = 0: nothing flows back into x or b.
            if act not in ("linear", "relu", "lrelu") and (
                ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
            ):
                # ddx and dy go in separately: the kernel multiplies them in float.
                d_x = kernel(x, b, ddx, dim, act, 2, alpha, gain, clamp, dy2=dy)
                d_b = sum_to_bias(d_x, dim) if ctx.needs_input_grad[2] else None
            return d_dy, d_x, d_b, None, None, None, None, None

    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, b, dim, act, alpha, gain, clamp):  # type: ignore[override]
            ctx.save_for_backward(x, b)
            ctx.cfg = (dim, act, alpha, gain, clamp)
            return kernel(x, b, None, dim, act, 0, alpha, gain, clamp)

        @staticmethod
        def backward(ctx, dy):  # type: ignore[override]
            x, b = ctx.saved_tensors
            dim, act, alpha, gain, clamp = ctx.cfg
            if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
                return None, None, None, None, None, None, None
            dx = Grad.apply(dy, x, b, dim, act, alpha, gain, clamp)
            db = sum_to_bias(dx, dim) if ctx.needs_input_grad[1] else None
            return dx, db, None, None, None, None, None

    def apply(
        x: torch.Tensor,
        b: torch.Tensor | None = None,
        dim: int = 1,
        act: str = "linear",
        alpha: float | None = None,
        gain: float | None = None,
        clamp: float | None = None,
    ) -> torch.Tensor:
        alpha_, gain_ = resolve(act, alpha, gain)
        dim = dim % max(x.ndim, 1)
        if b is not None:
            if b.ndim != 1 or b.shape[0] != x.shape[dim]:
                raise ValueError(
                    f"bias of shape {tuple(b.shape)} does not match dim {dim} of {tuple(x.shape)}"
                )
            b = b.to(x.dtype)  # the kernel computes in x's dtype (float opmath inside)
        clamp_ = float(clamp) if clamp is not None and clamp >= 0 else -1.0
        return Op.apply(x, b, dim, act, alpha_, gain_, clamp_)

    return apply


def _cuda_kernel(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dy: torch.Tensor | None,
    dim: int,
    act: str,
    order: int,
    alpha: float,
    gain: float,
    clamp: float,
    dy2: torch.Tensor | None = None,
) -> torch.Tensor:
    assert _PLUGIN.module is not None, "bias_act kernel used before it was built"
    return _call_binding(_PLUGIN.module, x, b, dy, dim, act, order, alpha, gain, clamp, dy2)


def _call_binding(
    module,
    x: torch.Tensor,
    b: torch.Tensor | None,
    dy: torch.Tensor | None,
    dim: int,
    act: str,
    order: int,
    alpha: float,
    gain: float,
    clamp: float,
    dy2: torch.Tensor | None = None,
) -> torch.Tensor:
    """One call of the compiled `bias_act` binding (bias_act.cpp) of `module`."""
    if not (
        x.is_contiguous() or (x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last))
    ):
        x = x.contiguous()  # the kernel walks memory linearly: NCHW or channels_last
    if dy is not None and dy.stride() != x.stride():
        dy = torch.empty_like(x).copy_(dy)  # the kernel walks dy in x's memory order
    if dy2 is not None and dy2.stride() != x.stride():
        dy2 = torch.empty_like(x).copy_(dy2)
    empty = x.new_empty(0)
    return module.bias_act(
        x,
        empty if b is None else b.contiguous(),
        empty if dy is None else dy,
        empty if dy2 is None else dy2,
        dim,
        ACT_CODES[act],
        order,
        alpha,
        gain,
        clamp,
        cuda_stream(x),
    )


def _smoke(module) -> None:
    """One tiny launch after loading: a binary without this GPU's architecture fails here."""
    x = torch.tensor([[-1.0, 0.5]], device="cuda")
    e = x.new_empty(0)
    y = module.bias_act(x, e, e, e, 1, ACT_CODES["lrelu"], 0, 0.2, 1.0, -1.0, cuda_stream(x))
    torch.cuda.synchronize(x.device)
    if y.cpu().tolist() != [[-0.20000000298023224, 0.5]]:
        raise RuntimeError(f"the kernel computed {y.cpu().tolist()} for lrelu([-1, 0.5])")


CPU = torch.device("cpu")


def _selfcheck(bindings, device: torch.device) -> Iterator[Comparison]:
    """The kernel path built on `bindings` against the reference, in the cases the nets use:
    every activation with its defaults and with alpha, gain and clamp set; NCHW and
    channels_last feature maps, 2-D dense-layer inputs, with and without a bias."""
    op = make_bias_act(functools.partial(_call_binding, bindings))

    def case(shape, dim=1, bias=True, fmt=torch.contiguous_format, seed=0, **kw):
        def make(dtype):
            g = seeded(seed)
            x = torch.randn(shape, generator=g) * 2
            b = torch.randn(shape[dim], generator=g) if bias else None
            if b is not None and x.ndim == 4:
                x[:, :, 0, :2] = -b[None, :, None]  # ties z = x + b == 0, common in fp16
            dy = torch.randn(shape, generator=g)
            out = []
            # the reference in float32 on the CPU: exact maths, no TF32, no device quirks
            for fn, dt, dev in ((op, dtype, device), (bias_act_ref, torch.float32, CPU)):

                def on(t, dt=dt, dev=dev):  # the same values (rounded to `dtype`) on both
                    t = t.to(dtype).to(device=dev, dtype=dt)
                    return t.to(memory_format=fmt) if t.ndim == 4 else t

                xs, dys = on(x).requires_grad_(), on(dy).requires_grad_()
                bs = on(b).requires_grad_() if b is not None else None
                ins = [xs] + ([bs] if bs is not None else [])
                out.append(second_order(fn(xs, bs, dim=dim, **kw), ins, dys))
            return out

        return make

    cases = []
    for act in ACTIVATIONS:
        cases.append((f"{act}", case([2, 8, 5, 6], act=act)))
        cases.append(
            (
                f"{act} alpha 0.3 gain 1.7 clamp 1",
                case([2, 8, 5, 6], act=act, alpha=0.3, gain=1.7, clamp=1.0, seed=1),
            )
        )
    cases += [
        (
            "lrelu clamp channels_last",
            case([2, 8, 5, 6], act="lrelu", gain=2.0, clamp=1.5, fmt=torch.channels_last, seed=2),
        ),
        ("lrelu dense [N, C]", case([6, 16], act="lrelu", seed=3)),
        ("linear no bias", case([2, 3, 4, 4], bias=False, clamp=1.0, seed=4)),
    ]
    yield from pairs(cases, device)


_PLUGIN = register(
    Plugin(
        op_spec("bias_act"), smoke=_smoke, selfcheck=_selfcheck, python_sources=(Path(__file__),)
    )
)
_bias_act_cuda = make_bias_act(_cuda_kernel)
