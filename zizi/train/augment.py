"""Adaptive discriminator augmentation (ADA): Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", written from the paper's appendix B.

`AugmentPipe` is the 'bgc' pipeline: pixel blitting (x-flip, 90° rotations, integer
translation), general geometric transforms (isotropic scaling, arbitrary rotation,
anisotropic scaling, fractional translation) and colour transforms (brightness, contrast,
luma flip, hue rotation, saturation). Every operation is applied to each image
independently with probability p. D sees every image through it, reals and fakes alike;
because the augmentations are invertible in distribution and applied with p < ~0.8, they
do not leak into what G learns (paper §2.2).

All geometric operations of a sample compose into one 3×3 homogeneous matrix and are
applied in a single resampling pass, as StyleGAN2-ADA's reference does: reflect-pad,
upsample 2× with the sym6 wavelet filter, bilinear sampling at the transformed grid,
downsample 2× with the flipped filter, crop (measured against the exact transform in
benchmarks/RESULTS.md). When no sample drew a geometric op the pass is skipped. The
reflect padding and the orthogonal wavelet keep the borders and the spectrum clean, so the
transform itself adds nothing D could tell apart (appendix B.2). All colour operations
compose into one 4×4 matrix on (r, g, b, 1).

`AdaController` adjusts p from the sign of D's outputs on reals (the r_t heuristic, §3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F

from zizi.ops.grid_sample_gradfix import grid_sample
from zizi.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

# Daubechies' least-asymmetric wavelet with 6 vanishing moments (sym6), low-pass taps. An
# orthonormal filter: upsampling then downsampling with it is the identity (tests check).
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)

GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
BLIT_OPS = GEOMETRIC_OPS[:3]
COLOUR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ALL_OPS = GEOMETRIC_OPS + COLOUR_OPS

# Presets as in the paper's ablations: b = pixel blitting, g = general geometric, c = colour.
PRESETS: dict[str, tuple[str, ...]] = {
    "b": BLIT_OPS,
    "g": GEOMETRIC_OPS[3:],
    "c": COLOUR_OPS,
    "bg": GEOMETRIC_OPS,
    "bc": BLIT_OPS + COLOUR_OPS,
    "gc": GEOMETRIC_OPS[3:] + COLOUR_OPS,
    "bgc": ALL_OPS,
}

AugmentPreset = Literal["b", "g", "c", "bg", "bc", "gc", "bgc"]


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=tx.device).repeat(tx.shape[0], 1, 1)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=sx.device).repeat(sx.shape[0], 1, 1)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation of points by theta (from +x towards +y: clockwise as displayed, y down)."""
    m = torch.eye(3, device=theta.device).repeat(theta.shape[0], 1, 1)
    c, s = theta.cos(), theta.sin()
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _luma_axis(device: torch.device) -> torch.Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)  # [4]


class AugmentPipe(torch.nn.Module):
    """The ADA augmentation pipeline; `forward(images)` returns augmented images.

    Each operation's weight (0 or 1, as in the paper; other values scale its probability)
    times the buffer `p` is the probability that a sample gets that operation. The
    strengths are the paper's (appendix B, table 1) unless given.
    """

    def __init__(
        self,
        *,
        xflip: float = 0.0,
        rotate90: float = 0.0,
        xint: float = 0.0,
        scale: float = 0.0,
        rotate: float = 0.0,
        aniso: float = 0.0,
        xfrac: float = 0.0,
        brightness: float = 0.0,
        contrast: float = 0.0,
        lumaflip: float = 0.0,
        hue: float = 0.0,
        saturation: float = 0.0,
        xint_max: float = 0.125,  # integer translation ~ U(±0.125) of the image size, rounded
        scale_std: float = 0.2,  # isotropic scale = 2^N(0, 0.2²)
        rotate_max: float = 1.0,  # arbitrary rotation ~ U(±1·π)
        aniso_std: float = 0.2,  # anisotropic scale = 2^N(0, 0.2²) along x, its inverse along y
        xfrac_std: float = 0.125,  # fractional translation ~ N(0, 0.125²) of the image size
        brightness_std: float = 0.2,  # add N(0, 0.2²) to every channel
        contrast_std: float = 0.5,  # multiply by 2^N(0, 0.5²)
        hue_max: float = 1.0,  # rotate around the luma axis by U(±1·π)
        saturation_std: float = 1.0,  # scale off the luma axis by 2^N(0, 1²)
        p: float = 0.0,
    ) -> None:
        super().__init__()
        self.weights = {
            name: float(v)
            for name, v in zip(
                ALL_OPS,
                (
                    xflip,
                    rotate90,
                    xint,
                    scale,
                    rotate,
                    aniso,
                    xfrac,
                    brightness,
                    contrast,
                    lumaflip,
                    hue,
                    saturation,
                ),
            )
        }
        for name, v in self.weights.items():
            if not v >= 0:
                raise ValueError(f"augment weight {name} must be >= 0, got {v}")
        self.xint_max, self.scale_std, self.rotate_max = xint_max, scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("filter", setup_filter(SYM6, separable=True), persistent=False)

    @classmethod
    def preset(cls, name: str, p: float = 0.0, **strengths: float) -> AugmentPipe:
        """'bgc' (the paper's default), or one of 'b', 'g', 'c', 'bg', 'bc', 'gc'."""
        if name not in PRESETS:
            raise ValueError(f"unknown augment preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{op: 1.0 for op in PRESETS[name]}, p=p, **strengths)

    def extra_repr(self) -> str:
        on = [n for n, v in self.weights.items() if v > 0]
        return f"ops={','.join(on) or 'none'}, p={float(self.p):.4f}"

    # ------------------------------------------------------------------ random draws

    def _draw(self, images: torch.Tensor, generator: torch.Generator | None):
        """Returns helpers that draw per-sample numbers; every draw happens whatever p is,
        so the random stream, and so a resumed run, does not depend on p."""
        n, device = images.shape[0], images.device
        gen_device = generator.device if generator is not None else device
        p = self.p.to(device=device, dtype=torch.float32)

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand((n, *shape), generator=generator, device=gen_device).to(device)

        def normal(*shape: int) -> torch.Tensor:
            return torch.randn((n, *shape), generator=generator, device=gen_device).to(device)

        def chosen(name: str, prob: torch.Tensor | None = None) -> torch.Tensor:
            """[N] bool: which samples get op `name` (probability weight·p unless given)."""
            u = uniform()
            return u < (p * self.weights[name] if prob is None else prob)

        return uniform, normal, chosen, p

    # ------------------------------------------------------------------ geometric

    def geometric_matrix(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[N, 3, 3]: per sample, output pixel -> input pixel, in pixels about the image centre.

        Each operation moves the image content by T; the sampling matrix is the inverse,
        so operations applied in the order listed compose as G = T1⁻¹ T2⁻¹ ... Tk⁻¹.
        """
        n, _, h, w = images.shape
        uniform, normal, chosen, p = self._draw(images, generator)
        zero = torch.zeros(n, device=images.device)
        g = torch.eye(3, device=images.device).repeat(n, 1, 1)
        if self.weights["xflip"] > 0:
            i = torch.floor(uniform() * 2)
            i = torch.where(chosen("xflip"), i, zero)
            g = g @ _scale2d(1 - 2 * i, torch.ones_like(i))
        if self.weights["rotate90"] > 0:
            k = torch.floor(uniform() * 4)
            k = torch.where(chosen("rotate90"), k, zero)
            # S2A's direction for the same draw: the sampling matrix turns by +k·90°, so the
            # content turns by k·90° counter-clockwise as displayed (y down).
            g = g @ _rotate2d(math.pi / 2 * k)
        if self.weights["xint"] > 0:
            t = (uniform(2) * 2 - 1) * self.xint_max
            t = torch.where(chosen("xint")[:, None], t, 0)
            g = g @ _translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
        if self.weights["scale"] > 0:
            s = torch.exp2(normal() * self.scale_std)
            s = torch.where(chosen("scale"), s, 1)
            g = g @ _scale2d(1 / s, 1 / s)
        # Rotation is applied twice, before and after the anisotropic scaling, each with
        # probability 1 - sqrt(1 - p), so that at least one happens with probability p.
        p_rot = 1 - torch.sqrt((1 - p * self.weights["rotate"]).clamp(min=0))
        if self.weights["rotate"] > 0:
            theta = (uniform() * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(chosen("rotate", p_rot), theta, zero)
            g = g @ _rotate2d(theta)  # S2A's direction for the same draw
        if self.weights["aniso"] > 0:
            s = torch.exp2(normal() * self.aniso_std)
            s = torch.where(chosen("aniso"), s, 1)
            g = g @ _scale2d(1 / s, s)
        if self.weights["rotate"] > 0:
            theta = (uniform() * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(chosen("rotate", p_rot), theta, zero)
            g = g @ _rotate2d(theta)  # S2A's direction for the same draw
        if self.weights["xfrac"] > 0:
            t = normal(2) * self.xfrac_std
            t = torch.where(chosen("xfrac")[:, None], t, 0)
            g = g @ _translate2d(-t[:, 0] * w, -t[:, 1] * h)
        return g

    def resample(self, images: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Apply per-sample sampling matrices `g` [N, 3, 3] in one pass, as S2A does.

        Reflect-pad as far as the transformed corners reach (plus the filter's footprint),
        upsample 2× with sym6, sample bilinearly on the transformed grid of an output
        extended by `taps // 4` pixels per side, downsample 2× with the flipped filter (so
        the up and down filters' delays cancel) and crop. Measured against S2A's
        augmentation on the same matrices and against the exact transform in
        benchmarks/RESULTS.md.
        """
        n, c, h, w = images.shape
        dev = images.device
        f = self.filter.to(dev)
        ext = f.shape[0] // 4  # output pixels computed beyond each border, cropped at the end
        # Corner pixel centres of the output, moved into the input by g: how far outside
        # the image the sampling reaches decides the reflect padding (at most size − 1).
        cx, cy = (w - 1) / 2, (h - 1) / 2
        corners = torch.tensor(
            [[-cx, -cy, 1.0], [cx, -cy, 1.0], [cx, cy, 1.0], [-cx, cy, 1.0]], device=dev
        )
        reach = (g @ corners.T)[:, :2, :].permute(1, 0, 2).flatten(1)  # [xy, N·4]
        reach = torch.cat([-reach, reach]).amax(dim=1)  # [left, top, right, bottom]
        reach = reach + torch.tensor([2 * ext - cx, 2 * ext - cy] * 2, device=dev)
        lim = torch.tensor([w - 1, h - 1] * 2, device=dev)
        pl, pt, pr, pb = (int(v) for v in reach.clamp(min=0).minimum(lim).ceil().tolist())
        x = F.pad(images, [pl, pr, pt, pb], mode="reflect")
        # In the padded image's centred coordinates the origin moved by half the difference.
        shift = torch.eye(3, device=dev)
        shift[0, 2], shift[1, 2] = (pl - pr) / 2, (pt - pb) / 2
        m = shift @ g
        x = upsample2d(x, f, up=2)  # [N, C, 2(H+pt+pb), 2(W+pl+pr)]
        # The same map in upsampled pixels: a pixel at centred position p (input pixels)
        # is at 2p in the upsampled grid, whose pixel centres sit half a pixel further in.
        up = torch.diag(torch.tensor([2.0, 2.0, 1.0], device=dev))
        half = torch.eye(3, device=dev)
        half[0, 2] = half[1, 2] = -0.5
        m = half @ up @ m @ torch.linalg.inv(up) @ torch.linalg.inv(half)
        out_h, out_w = 2 * (h + 2 * ext), 2 * (w + 2 * ext)
        # Output pixel centres, centred, in upsampled pixels -> source positions -> the
        # [-1, 1] coordinates grid_sample reads (pixel centres at (2i + 1)/size − 1).
        ys = torch.arange(out_h, device=dev, dtype=torch.float32) + 0.5 - out_h / 2
        xs = torch.arange(out_w, device=dev, dtype=torch.float32) + 0.5 - out_w / 2
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        q = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(1, -1, 3)  # [1, P, 3]
        src = (q @ m.transpose(1, 2))[..., :2]  # [N, P, 2] centred, upsampled pixels
        scale = torch.tensor([2 / x.shape[3], 2 / x.shape[2]], device=dev)
        grid = (src * scale).reshape(n, out_h, out_w, 2)
        x = grid_sample(x, grid.to(x.dtype))
        return downsample2d(x, f, down=2, padding=-2 * ext, flip_filter=True)  # [N, C, H, W]

    # ------------------------------------------------------------------ colour

    def colour_matrix(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[N, 4, 4] acting on (r, g, b, 1); images are in [-1, 1], so 0 is mid-grey."""
        n = images.shape[0]
        dev = images.device
        uniform, normal, chosen, _ = self._draw(images, generator)
        eye = torch.eye(4, device=dev)
        v = _luma_axis(dev)
        vv = torch.outer(v, v)  # [4, 4] projection on the luma axis
        m = eye.repeat(n, 1, 1)
        if self.weights["brightness"] > 0:
            b = normal() * self.brightness_std
            b = torch.where(chosen("brightness"), b, 0)
            t = eye.repeat(n, 1, 1)
            t[:, :3, 3] = b[:, None]
            m = t @ m
        if self.weights["contrast"] > 0:
            s = torch.exp2(normal() * self.contrast_std)
            s = torch.where(chosen("contrast"), s, 1)
            t = eye.repeat(n, 1, 1)
            t[:, 0, 0] = t[:, 1, 1] = t[:, 2, 2] = s
            m = t @ m
        if self.weights["lumaflip"] > 0:
            i = torch.floor(uniform() * 2)
            i = torch.where(chosen("lumaflip"), i, 0)
            m = (eye - 2 * vv * i[:, None, None]) @ m  # mirror along the luma axis
        if self.weights["hue"] > 0:
            theta = (uniform() * 2 - 1) * math.pi * self.hue_max
            theta = torch.where(chosen("hue"), theta, 0)
            m = _rotate_about(v, theta) @ m
        if self.weights["saturation"] > 0:
            s = torch.exp2(normal() * self.saturation_std)
            s = torch.where(chosen("saturation"), s, 1)
            t = vv + (eye - vv) * s[:, None, None]
            t[:, 3, 3] = 1  # the homogeneous coordinate is not an off-axis direction
            m = t @ m
        return m

    @staticmethod
    def apply_colour(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        m = m.to(images.dtype)
        if c == 3:
            x = images.reshape(n, 3, h * w)
            return (m[:, :3, :3] @ x + m[:, :3, 3:]).reshape(n, c, h, w)
        if c == 1:
            # A grey image is (g, g, g); the result is read back as the mean of r, g, b.
            gain = m[:, :3, :3].sum(dim=2).mean(dim=1)
            offset = m[:, :3, 3].mean(dim=1)
            return images * gain[:, None, None, None] + offset[:, None, None, None]
        raise ValueError(f"colour augmentation needs 1 or 3 channels, got {c}")

    # ------------------------------------------------------------------ forward

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """images [N, C, H, W] in [-1, 1] -> augmented images of the same shape."""
        if images.ndim != 4:
            raise ValueError(f"images must be [N, C, H, W], got {tuple(images.shape)}")
        x = images
        if any(self.weights[op] > 0 for op in GEOMETRIC_OPS):
            g = self.geometric_matrix(x, generator)
            # One batch-wide check: at p = 0 (or when nothing was drawn) no resampling happens.
            if not torch.equal(g, torch.eye(3, device=g.device).expand_as(g)):
                x = self.resample(x, g)
        if any(self.weights[op] > 0 for op in COLOUR_OPS):
            m = self.colour_matrix(x, generator)
            if not torch.equal(m, torch.eye(4, device=m.device).expand_as(m)):
                x = self.apply_colour(x, m)
        return x


def _rotate_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """[N, 4, 4] rotation by theta about the unit 3-vector `axis` (Rodrigues' formula)."""
    a = axis[:3]
    n = theta.shape[0]
    k = torch.zeros(3, 3, device=axis.device)  # cross-product matrix of a
    k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -a[2], a[1], a[2], -a[0], -a[1], a[0]
    c, s = theta.cos()[:, None, None], theta.sin()[:, None, None]
    r = torch.eye(3, device=axis.device) * c + k * s + torch.outer(a, a) * (1 - c)
    m = torch.eye(4, device=axis.device).repeat(n, 1, 1)
    m[:, :3, :3] = r
    return m


class AdaController:
    """Adjusts the pipe's p towards a target overfitting heuristic r_t = E[sign(D(real))].

    The trainer calls `accumulate(real_logits)` every step and `update(nimg)` every
    `interval` steps with the number of images seen since the last update; p then moves by
    sign(r_t - target) · nimg / (adjust_kimg · 1000), so it can go from 0 to 1 in
    `adjust_kimg` thousand images (paper §3: target 0.6, 500k images). p never goes below 0.

    `target=None` is fixed-p mode: p stays where it was set, r_t is still reported.
    """

    def __init__(
        self,
        pipe: AugmentPipe,
        target: float | None = 0.6,
        adjust_kimg: float = 500.0,
        interval: int = 4,
    ) -> None:
        if not adjust_kimg > 0 or interval < 1:
            raise ValueError(
                f"adjust_kimg must be > 0 and interval >= 1, got {adjust_kimg} and {interval}"
            )
        if target is not None and not -1 <= target <= 1:
            raise ValueError(
                f"target is a value of E[sign(D(real))], between -1 and 1 "
                f"(the paper uses 0.6), got {target}"
            )
        self.pipe = pipe
        self.target = target
        self.adjust_kimg = float(adjust_kimg)
        self.interval = int(interval)
        self._sum: torch.Tensor | None = None  # [2]: sum of signs, count; stays on D's device
        self.last_rt: float | None = None

    @property
    def p(self) -> float:
        return float(self.pipe.p)

    def due(self, step: int) -> bool:
        """Whether `update` should run after minibatch `step` (counted from 1)."""
        return step % self.interval == 0

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add D's raw outputs on (augmented) reals; no host sync."""
        x = real_logits.detach().flatten()
        add = torch.stack(
            [x.sign().sum(), torch.tensor(float(x.numel()), device=x.device)]
        ).double()
        self._sum = add if self._sum is None else self._sum + add

    def update(self, nimg_delta: int) -> float | None:
        """Adjust p from what was accumulated (summed over ranks under DDP); returns r_t."""
        if self._sum is None:
            return None
        acc = self._sum
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            from zizi.train.distributed import all_reduce_

            acc = all_reduce_(acc.clone(), "ADA's overfitting statistics")
        total, count = acc.tolist()
        self._sum = None
        if count == 0:
            return None
        rt = total / count
        self.last_rt = rt
        if self.target is not None:
            step = nimg_delta / (self.adjust_kimg * 1000)
            new_p = self.p + math.copysign(step, rt - self.target) if rt != self.target else self.p
            self.pipe.p.fill_(max(new_p, 0.0))
        return rt

    def state_dict(self) -> dict[str, Any]:
        """JSON-able: p, the unfinished accumulation, and the settings it was made with."""
        total, count = (0.0, 0.0) if self._sum is None else self._sum.tolist()
        return {
            "p": self.p,
            "sum": total,
            "count": count,
            "last_rt": self.last_rt,
            "target": self.target,
            "adjust_kimg": self.adjust_kimg,
            "interval": self.interval,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore p and the accumulator; the settings stay as this controller was built."""
        self.pipe.p.fill_(float(state["p"]))
        count = float(state.get("count", 0.0))
        self._sum = (
            torch.tensor(
                [float(state.get("sum", 0.0)), count],
                dtype=torch.float64,
                device=self.pipe.p.device,
            )
            if count > 0
            else None
        )
        self.last_rt = state.get("last_rt")


def build_augment(
    mode: Literal["ada", "fixed", "off"],
    preset: str = "bgc",
    p: float = 0.0,
    target: float = 0.6,
    adjust_kimg: float = 500.0,
    interval: int = 4,
) -> tuple[AugmentPipe | None, AdaController | None]:
    """The trainer's one entry: (pipe, controller) for 'ada', (pipe, fixed controller) for
    'fixed' (p as given), (None, None) for 'off'."""
    if mode == "off":
        return None, None
    if mode not in ("ada", "fixed"):
        raise ValueError(f"augment mode must be 'ada', 'fixed' or 'off', got {mode!r}")
    if not 0 <= p <= 1:
        raise ValueError(f"augment p must be in [0, 1], got {p}")
    pipe = AugmentPipe.preset(preset, p=p)
    ctrl = AdaController(
        pipe, target=target if mode == "ada" else None, adjust_kimg=adjust_kimg, interval=interval
    )
    return pipe, ctrl


__all__: Sequence[str] = ("AugmentPipe", "AdaController", "build_augment", "PRESETS", "SYM6")
