"""2-D convolution fused with FIR up/downsampling (the resampling convs of StyleGAN2).

Upsampling uses a stride-2 transposed conv followed by the FIR (cheaper than FIR-then-conv
at the higher resolution); downsampling filters first and then uses a stride-2 conv.
Both orderings give the same result as the naive "zero-insert, filter, conv" definition.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zizi.ops.upfirdn2d import filter_size, upfirdn2d


def conv2d_resample(
    x: torch.Tensor,  # [N, C_in*groups?, H, W]
    w: torch.Tensor,  # [C_out, C_in/groups, kh, kw]
    f: torch.Tensor | None = None,  # FIR filter for resampling
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    bias: torch.Tensor | None = None,  # [C_out], added to the output (inside the conv if it can)
) -> torch.Tensor:
    """Cross-correlate `x` with `w`, upsampling or downsampling by 2 with the FIR `f`."""
    if up not in (1, 2) or down not in (1, 2) or (up > 1 and down > 1):
        raise ValueError(
            f"conv2d_resample supports up=2 or down=2 (not both), got up={up} down={down}"
        )
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0 = px1 = py0 = py1 = padding

    if up > 1:
        # Transposed conv with stride 2 == zero-insert then conv with the flipped kernel; the
        # FIR then removes the images of the spectrum. Padding makes the output exactly 2x.
        px0 += (fw + up - 1) // 2 - (kw - 1)
        px1 += (fw - up) // 2 - (kw - up)
        py0 += (fh + up - 1) // 2 - (kh - 1)
        py1 += (fh - up) // 2 - (kh - up)
        if groups == 1:
            wt = w.transpose(0, 1)  # [C_in, C_out, kh, kw]
        else:
            wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            wt = wt.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = F.conv_transpose2d(x, wt, stride=up, padding=[pyt, pxt], groups=groups)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)
        return x if bias is None else x + bias.reshape(1, -1, 1, 1)

    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return F.conv2d(x, w, bias, stride=down, groups=groups)

    return F.conv2d(x, w, bias, padding=padding, groups=groups)
