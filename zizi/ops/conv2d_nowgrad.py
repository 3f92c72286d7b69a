"""2-D (transposed) convolution whose weight gradient can be skipped.

R1 and path-length regularisers differentiate the loss with respect to the *input*
(images, or ws) only; the weight gradient of every conv in that backward is wasted work.
Inside `no_weight_gradients()` the backward of these convs asks
`aten.convolution_backward` for the input gradient alone. The penalty's own gradient
still reaches the weights: the input gradient is computed with grad mode on (create_graph),
so autograd records it through aten's differentiable `convolution_backward`, whose
derivative with respect to the weight is unaffected by the skip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import torch

_lock = threading.Lock()
# Process-wide, not thread- or context-local, on purpose: autograd runs a CUDA backward on
# its own device thread, which would not see a thread-local flag set by the caller.
_disabled_depth = 0


@contextlib.contextmanager
def no_weight_gradients(disable: bool = True) -> Iterator[None]:
    """Within this block, backward passes through these convs skip the weight gradient.

    Wrap only `torch.autograd.grad(..., inputs=[images or ws], create_graph=True)` of a
    regulariser: a weight gradient asked for inside the block comes back as None.
    """
    global _disabled_depth
    if not disable:
        yield
        return
    with _lock:
        _disabled_depth += 1
    try:
        yield
    finally:
        with _lock:
            _disabled_depth -= 1


def weight_gradients_disabled() -> bool:
    return _disabled_depth > 0


def _tuple2(v: int | Sequence[int]) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


class _Convolution(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, transposed, output_padding, groups):  # type: ignore[override]
        ctx.save_for_backward(x, w)
        ctx.cfg = (stride, padding, dilation, transposed, output_padding, groups)
        ctx.bias_sizes = None if b is None else [b.shape[0]]
        return torch.ops.aten.convolution(
            x, w, b, stride, padding, dilation, transposed, output_padding, groups
        )

    @staticmethod
    def backward(ctx, dy):  # type: ignore[override]
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_w = need_w and not weight_gradients_disabled()
        if not (need_x or need_w or need_b):
            return (None,) * 9
        stride, padding, dilation, transposed, output_padding, groups = ctx.cfg
        # Grad mode is on here exactly when the caller asked for create_graph=True; then
        # autograd records this call and its derivative (double backward) comes from aten.
        need_b = need_b and ctx.bias_sizes is not None
        # The bias gradient is asked of aten only together with the weight's: on CPU
        # (oneDNN) asking for it alone still runs the full weight-gradient computation.
        dx, dw, db = torch.ops.aten.convolution_backward(
            dy,
            x,
            w,
            ctx.bias_sizes,
            stride,
            padding,
            dilation,
            transposed,
            output_padding,
            groups,
            [need_x, need_w, need_b and need_w],
        )
        if need_b and not need_w:
            db = dy.sum([0, 2, 3])
        return dx, dw, db, None, None, None, None, None, None


def conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """`F.conv2d` whose weight gradient is skipped inside `no_weight_gradients()`."""
    return _Convolution.apply(
        x, w, b, _tuple2(stride), _tuple2(padding), _tuple2(dilation), False, [0, 0], groups
    )


def conv_transpose2d(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> torch.Tensor:
    """`F.conv_transpose2d` whose weight gradient is skipped inside `no_weight_gradients()`."""
    return _Convolution.apply(
        x,
        w,
        b,
        _tuple2(stride),
        _tuple2(padding),
        _tuple2(dilation),
        True,
        _tuple2(output_padding),
        groups,
    )
