"""Bilinear `grid_sample` whose input gradient can itself be differentiated (R1 through ADA).

ADA resamples every image the discriminator sees, so the R1 penalty differentiates D's
output with respect to the real images *through* `grid_sample`, and the penalty's own
gradient then needs the derivative of that input gradient: a double backward.

PyTorch's own `grid_sample` has no such derivative in most releases zizi supports
(torch >= 2.1): they raise "derivative for grid_sampler_2d_backward is not implemented" on
every device (pytorch#34704, #53462). A formula was added only in 2026 (pytorch#177487; torch
2.13 has it). This op needs nothing new from aten and works the same on CPU and CUDA, on
every torch:

For a fixed grid, sampling is linear in the input: y = S x, with S the sparse bilinear
weights. Its input gradient is gx = Sᵀ gy, aten's `grid_sampler_2d_backward`, which is
again linear in gy, and whose own derivative with respect to gy is S: a `grid_sample` of
the incoming gradient. gx does not depend on x, so that is the whole double backward.

The grid is a constant here (ADA's grid comes from random parameters, not from weights);
asking for its gradient is an error rather than a silent zero.
"""

from __future__ import annotations

import torch

# aten's enums: interpolation 0 = bilinear; padding 0 = zeros.
_BILINEAR, _ZEROS = 0, 0


def _check(x: torch.Tensor, grid: torch.Tensor) -> None:
    if x.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        raise ValueError(
            f"expected input [N, C, H, W] and grid [N, H_out, W_out, 2], "
            f"got {tuple(x.shape)} and {tuple(grid.shape)}"
        )
    if grid.requires_grad:
        raise ValueError(
            "grid_sample_gradfix treats the grid as a constant; detach it "
            "(or use F.grid_sample if you need the grid's gradient)"
        )


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, grid):  # type: ignore[override]
        ctx.save_for_backward(grid)
        ctx.input_shape = x.shape
        return torch.grid_sampler_2d(x, grid, _BILINEAR, _ZEROS, False)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        (grid,) = ctx.saved_tensors
        gx = (
            _GridSampleInputGrad.apply(gy, grid, ctx.input_shape)
            if ctx.needs_input_grad[0]
            else None
        )
        return gx, None


class _GridSampleInputGrad(torch.autograd.Function):
    """gy -> Sᵀ gy, the input gradient of sampling at `grid` (linear in gy)."""

    @staticmethod
    def forward(ctx, gy, grid, input_shape):  # type: ignore[override]
        ctx.save_for_backward(grid)
        # aten wants an input only for its shape, dtype and device.
        x = torch.empty(input_shape, dtype=gy.dtype, device=gy.device)
        gx, _ = torch.ops.aten.grid_sampler_2d_backward(
            gy, x, grid, _BILINEAR, _ZEROS, False, [True, False]
        )
        return gx

    @staticmethod
    def backward(ctx, ggx):  # type: ignore[override]
        (grid,) = ctx.saved_tensors
        # d(Sᵀ gy)/d gy applied to ggx is S ggx; through the same Function, so any order works.
        return _GridSample.apply(ggx, grid), None, None


def grid_sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """`F.grid_sample(x, grid, "bilinear", "zeros", align_corners=False)`, twice
    differentiable in x.

    x: [N, C, H, W]; grid: [N, H_out, W_out, 2] in [-1, 1] (x then y), a constant.
    """
    _check(x, grid)
    return _GridSample.apply(x, grid)


def grid_sample_ref(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The same sampling from its definition with gathers; autograd differentiates it to any order.

    A sample at normalised (gx, gy) reads pixel coordinates u = ((gx + 1)·W - 1)/2 (pixel
    centres at integers, align_corners=False) and mixes the four neighbours bilinearly;
    neighbours outside the image count as zero.
    """
    _check(x, grid)
    n, c, h, w = x.shape
    u = ((grid[..., 0] + 1) * w - 1) / 2  # [N, Ho, Wo]
    v = ((grid[..., 1] + 1) * h - 1) / 2
    u0, v0 = u.floor(), v.floor()
    fu, fv = u - u0, v - v0
    flat = x.reshape(n, c, h * w)
    out = x.new_zeros(n, c, *u.shape[1:])
    for du, wu in ((0, 1 - fu), (1, fu)):
        for dv, wv in ((0, 1 - fv), (1, fv)):
            ui, vi = (u0 + du).long(), (v0 + dv).long()
            inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
            idx = (vi.clamp(0, h - 1) * w + ui.clamp(0, w - 1)).reshape(n, 1, -1).expand(n, c, -1)
            vals = flat.gather(2, idx).reshape(out.shape)
            out = out + vals * (wu * wv * inside).unsqueeze(1).to(x.dtype)
    return out
