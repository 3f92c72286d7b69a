"""Sliced Wasserstein distance on Laplacian pyramids (Karras et al. 2018, PGGAN §5 and App. D).

An offline quality measure that needs no pretrained network. Each image becomes a
Laplacian pyramid (5-tap binomial filter [1 4 6 4 1]/16, mirror padding) from its own
resolution down to 16×16; the coarsest level is the remaining low-pass image. From every
level of every image, 128 random 7×7×3 neighbourhoods are taken as 147-d descriptors.
Each descriptor set is normalised per colour channel (its own mean and standard
deviation over all its descriptors), and the two sets of one level are compared with
the sliced Wasserstein distance: project both onto random unit directions (512: four
repeats of 128), sort each projection, and average the absolute difference of the
sorted values; the mean over the repeats is that level's distance. PGGAN reports
per-level distances ×10³ and their average; `swd` does the same.

Small distances at the fine levels mean matching textures and edges; at the coarse
levels, matching colours and overall layout.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

PATCH = 7  # neighbourhood side (7×7 pixels)
DESCRIPTORS_PER_IMAGE = 128
MIN_RESOLUTION = 16  # the coarsest pyramid level
DIRS_PER_REPEAT = 128
DIR_REPEATS = 4  # 4 × 128 = 512 random projections
SCALE = 1e3  # PGGAN's tables show SWD × 10³


def _binomial_kernel(channels: int, like: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=like.device, dtype=like.dtype)
    k2 = torch.outer(k, k) / 256.0
    return k2.expand(channels, 1, 5, 5).contiguous()


def _blur(x: torch.Tensor) -> torch.Tensor:
    # mirror padding (d c b | a b c d | c b a), the scipy `mode="mirror"` PGGAN used
    return F.conv2d(
        F.pad(x, (2, 2, 2, 2), mode="reflect"), _binomial_kernel(x.shape[1], x), groups=x.shape[1]
    )


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Blur, then keep every second pixel: [N, C, H, W] -> [N, C, H/2, W/2]."""
    return _blur(x)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """Insert zeros between pixels, then blur with 4× gain: [N, C, H, W] -> [N, C, 2H, 2W]."""
    n, c, h, w = x.shape
    up = torch.zeros(n, c, 2 * h, 2 * w, dtype=x.dtype, device=x.device)
    up[:, :, ::2, ::2] = x
    return _blur(up) * 4


def laplacian_pyramid(x: torch.Tensor, min_resolution: int = MIN_RESOLUTION) -> list[torch.Tensor]:
    """[finest band-pass, ..., coarsest low-pass]; summing back with `pyr_up` restores x."""
    levels = []
    while x.shape[-1] > min_resolution and x.shape[-1] % 2 == 0:
        small = pyr_down(x)
        levels.append(x - pyr_up(small))
        x = small
    levels.append(x)
    return levels


def reconstruct(levels: list[torch.Tensor]) -> torch.Tensor:
    """The image a Laplacian pyramid came from."""
    x = levels[-1]
    for band in reversed(levels[:-1]):
        x = pyr_up(x) + band
    return x


def _patches(level: torch.Tensor, per_image: int, generator: torch.Generator) -> torch.Tensor:
    """`per_image` random 7×7 neighbourhoods of every image: [N * per_image, C, 7, 7]."""
    n, c, h, w = level.shape
    if h < PATCH or w < PATCH:
        raise ValueError(f"images of {w}×{h} are too small for 7×7 SWD neighbourhoods")
    ys = torch.randint(0, h - PATCH + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - PATCH + 1, (n, per_image), generator=generator)
    offs = torch.arange(PATCH)
    rows = (ys[..., None] + offs)[..., :, None]  # [N, P, 7, 1]
    cols = (xs[..., None] + offs)[..., None, :]  # [N, P, 1, 7]
    img = torch.arange(n)[:, None, None, None]
    out = level.permute(0, 2, 3, 1)[
        img, rows.to(level.device), cols.to(level.device)
    ]  # [N, P, 7, 7, C]
    return out.permute(0, 1, 4, 2, 3).reshape(n * per_image, c, PATCH, PATCH)


class PyramidDescriptors:
    """Collects 7×7 neighbourhood descriptors per pyramid level from batches of images."""

    def __init__(self, per_image: int = DESCRIPTORS_PER_IMAGE, seed: int = 0) -> None:
        self.per_image = per_image
        self.generator = torch.Generator().manual_seed(seed)
        self.levels: dict[int, list[torch.Tensor]] = {}

    def append(self, images: torch.Tensor) -> None:
        """Add uint8 (or float, 0..255) images [N, C, H, W]."""
        x = images.to(torch.float32)
        for level in laplacian_pyramid(x):
            res = level.shape[-1]
            self.levels.setdefault(res, []).append(
                _patches(level, self.per_image, self.generator).cpu()
            )

    def result(self) -> dict[int, torch.Tensor]:
        """Resolution -> descriptors [M, C, 7, 7], finest first."""
        return {res: torch.cat(v) for res, v in sorted(self.levels.items(), reverse=True)}


def normalize(desc: torch.Tensor) -> torch.Tensor:
    """Per colour channel: subtract the mean and divide by the std over the whole set."""
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return (desc - mean) / std


def sliced_wasserstein(
    a: torch.Tensor,
    b: torch.Tensor,
    generator: torch.Generator,
    dirs_per_repeat: int = DIRS_PER_REPEAT,
    repeats: int = DIR_REPEATS,
    dirs: torch.Tensor | None = None,
) -> float:
    """Mean over repeats of the 1-D Wasserstein-1 distance along random unit directions.

    a, b: [M, D] with equal M. `dirs` [D, K] fixes the directions (one repeat) for tests.
    """
    if a.shape != b.shape:
        raise ValueError(
            f"descriptor sets must have equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    a, b = a.to(torch.float64), b.to(torch.float64)
    results = []
    for _ in range(1 if dirs is not None else repeats):
        d = (
            dirs
            if dirs is not None
            else torch.randn(a.shape[1], dirs_per_repeat, generator=generator, dtype=torch.float64)
        )
        d = d.to(torch.float64) / d.to(torch.float64).norm(dim=0, keepdim=True)
        pa = torch.sort(a @ d, dim=0).values
        pb = torch.sort(b @ d, dim=0).values
        results.append((pa - pb).abs().mean().item())
    return sum(results) / len(results)


def swd(a: dict[int, torch.Tensor], b: dict[int, torch.Tensor], seed: int = 0) -> dict[str, float]:
    """Per-level SWD × 10³ (keys "swd16", "swd32", ...) and their average ("swd").

    a, b: `PyramidDescriptors.result()` of the two image sets (same resolutions).
    The larger set of each level is subsampled (seeded) to the size of the smaller.
    """
    if sorted(a) != sorted(b):
        raise ValueError(
            f"the two image sets have different pyramid levels: {sorted(a)} vs {sorted(b)}"
        )
    g = torch.Generator().manual_seed(seed)
    out: dict[str, float] = {}
    for res in sorted(a):
        da, db = normalize(a[res]), normalize(b[res])
        m = min(len(da), len(db))
        da = da[torch.randperm(len(da), generator=g)[:m]]
        db = db[torch.randperm(len(db), generator=g)[:m]]
        out[f"swd{res}"] = SCALE * sliced_wasserstein(da.reshape(m, -1), db.reshape(m, -1), g)
    out["swd"] = sum(out.values()) / len(out)
    return out


def descriptors_of(batches: Iterable[torch.Tensor], seed: int = 0) -> dict[int, torch.Tensor]:
    """Descriptors of every image in `batches` (uint8 [N, C, H, W] tensors)."""
    acc = PyramidDescriptors(seed=seed)
    for images in batches:
        acc.append(images)
    return acc.result()
