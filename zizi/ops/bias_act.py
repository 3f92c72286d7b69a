"""Fused bias + activation + gain + clamp: `act(x + b) * gain`, clamped to ±clamp.

Every StyleGAN2 layer ends in this op. The reference path is plain PyTorch and is
differentiable to any order (R1 and path-length regularisers need double backward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F

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
    return (spec.def_alpha if alpha is None else float(alpha),
            spec.def_gain if gain is None else float(gain))


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
            raise ValueError(f"bias of shape {tuple(b.shape)} does not match dim {dim} of {tuple(x.shape)}")
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
    return bias_act_ref(x, b, dim, act, alpha, gain, clamp)
