"""Perceptual distances for projection, each `loss(images) -> [N]` against fixed targets.

- `VGGDistance`: LPIPS-style (Zhang et al. 2018) distance on VGG16 features (Simonyan &
  Zisserman 2015), the network written here in plain torch. Its weights are a local file the
  person gives (a state dict with torchvision-style `features.N.weight` keys, optionally
  LPIPS `lin{k}.model.1.weight` layer weights); zizi never downloads them.
- `OwnDistance`: needs no download: features of the model's own discriminator (unit-
  normalised per channel, as LPIPS does), plus a pixel term and a multi-scale structural
  (SSIM, Wang et al. 2004) term. Which mix works best is measured by benchmarks/mirror.py.

Inputs are generator images in [-1, 1], [N, 3, R, R].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from zizi.errors import ZiziError

if TYPE_CHECKING:
    from zizi.nets.discriminator import Discriminator

# VGG16 "D" configuration: channels per conv, "M" = 2x2 max pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# LPIPS taps the ReLU after these convs (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3):
# indices into torchvision's `features` Sequential.
VGG16_TAPS = (3, 8, 15, 22, 29)
# LPIPS's input scaling layer (ImageNet statistics expressed for [-1, 1] inputs).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
PERCEPTUAL_MAX_RES = 256  # larger images are area-downsampled first (the VGG16 was trained at 224)


class PerceptualWeightsError(ZiziError):
    """The --perceptual file is not a VGG16 state dict."""


def _unit(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Normalise each position's feature vector to unit length (LPIPS eq. 1)."""
    return x / (x.square().sum(dim=1, keepdim=True) + eps).sqrt()


def _shrink(img: torch.Tensor, max_res: int) -> torch.Tensor:
    if img.shape[-1] > max_res:
        img = F.adaptive_avg_pool2d(img, (max_res, max_res))
    return img


class VGG16Features(nn.Module):
    """VGG16's convolutional part, returning the five LPIPS taps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG16_TAPS:
                out.append(x)
        return out


def _read_state(p: Path) -> dict:
    if not p.is_file():
        raise PerceptualWeightsError(f"--perceptual {p} not found")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and header errors all mean "not a state dict"
        raise PerceptualWeightsError(
            f"--perceptual {p} is not a weights file torch can read "
            f"safely ({type(e).__name__}); give a VGG16 state dict"
        ) from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise PerceptualWeightsError(f"--perceptual {p} holds no state dict")
    return sd


def load_perceptual(
    paths: str | Path | list[str | Path],
) -> tuple[VGG16Features, list[torch.Tensor] | None]:
    """A VGG16 (and, when given, LPIPS's linear layer weights) from local files: torch state
    dicts (`.pt`/`.pth`, loaded with weights_only) or `.safetensors`. Several files are
    merged, so torchvision's VGG16 file and LPIPS's small `vgg.pth` (only `lin*` weights)
    can be given side by side."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    sd: dict = {}
    for path in paths:
        sd.update(_read_state(Path(path)))
    p = Path(paths[0]) if len(paths) == 1 else Path(", ".join(str(x) for x in paths))
    # LPIPS checkpoints name the trunk net.slice{k}.N; torchvision names it features.N.
    feats = {}
    for k, v in sd.items():
        for prefix in ("features.", "net.features.", "module.features."):
            if k.startswith(prefix):
                feats["features." + k[len(prefix) :]] = v
    net = VGG16Features()
    missing = [k for k in net.state_dict() if k not in feats]
    if missing:
        raise PerceptualWeightsError(
            f"--perceptual {p} is not a VGG16 state dict: no {missing[0]} "
            "(expected torchvision-style features.N.weight keys)"
        )
    for k, live in net.state_dict().items():
        if tuple(feats[k].shape) != tuple(live.shape):
            raise PerceptualWeightsError(
                f"--perceptual {p}: {k} is shaped {tuple(feats[k].shape)}, "
                f"VGG16 needs {tuple(live.shape)}"
            )
    net.load_state_dict({k: feats[k].float() for k in net.state_dict()})
    lins = None
    if all(f"lin{k}.model.1.weight" in sd for k in range(5)):
        lins = [sd[f"lin{k}.model.1.weight"].float().reshape(1, -1, 1, 1) for k in range(5)]
    return net.eval().requires_grad_(False), lins


class VGGDistance(nn.Module):
    """LPIPS distance to fixed targets (learned layer weights if given, else uniform)."""

    def __init__(
        self, net: VGG16Features, lins: list[torch.Tensor] | None, target: torch.Tensor
    ) -> None:
        super().__init__()
        self.net = net
        self.lins = lins
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))
        with torch.no_grad():
            self.target = [_unit(f) for f in self._features(target)]

    def _features(self, img: torch.Tensor) -> list[torch.Tensor]:
        img = _shrink(img, PERCEPTUAL_MAX_RES)
        return self.net((img - self.shift.to(img.device)) / self.scale.to(img.device))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        total = img.new_zeros(img.shape[0])
        for k, (f, t) in enumerate(zip(self._features(img), self.target)):
            d = (_unit(f) - t).square()
            d = (d * self.lins[k].to(d.device)).sum(1) if self.lins else d.sum(1)
            total = total + d.mean(dim=(1, 2))
        return total


def discriminator_features(D: Discriminator, img: torch.Tensor) -> list[torch.Tensor]:
    """The activations after each of D's resolution blocks, image side first."""
    x = None
    feats = []
    for res in D.block_resolutions:
        x = getattr(D, f"b{res}")(x, img, force_fp32=True)
        feats.append(x.float())
    return feats


def _gauss_window(size: int, sigma: float, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image, [N], for images in [-1, 1] (data range 2)."""
    res = a.shape[-1]
    size = min(11, res if res % 2 else res - 1)
    win = _gauss_window(size, 1.5 * size / 11, a.device)

    def blur(x):
        return F.conv2d(x, win, groups=3)

    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2)
    )
    return s.mean(dim=(1, 2, 3))


def ms_ssim(a: torch.Tensor, b: torch.Tensor, min_res: int = 8) -> torch.Tensor:
    """SSIM averaged over scales (full, 1/2, 1/4 ... down to `min_res`), [N]."""
    scores = []
    while True:
        scores.append(ssim(a, b))
        if a.shape[-1] // 2 < min_res:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return torch.stack(scores).mean(0)


@dataclass(frozen=True)
class OwnWeights:
    """How the download-free loss mixes its terms (chosen by benchmarks/mirror.py)."""

    disc: float = 1.0  # discriminator feature distance: the model's own sense of faces
    pixel: float = 1.0  # mean squared error in [-1, 1]: colour and overall layout
    ssim: float = 1.0  # 1 - multi-scale SSIM: local structure and contrast at every scale


class OwnDistance(nn.Module):
    """Discriminator features + pixel + multi-scale SSIM distance to fixed targets."""

    def __init__(
        self, D: Discriminator | None, target: torch.Tensor, weights: OwnWeights = OwnWeights()
    ) -> None:
        super().__init__()
        self.D = D if weights.disc > 0 else None
        self.w = weights
        self.target = _shrink(target, PERCEPTUAL_MAX_RES)
        with torch.no_grad():
            self.target_feats = (
                [_unit(f) for f in discriminator_features(self.D, target)]
                if self.D is not None
                else []
            )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        total = img.new_zeros(img.shape[0])
        if self.D is not None:
            feats = discriminator_features(self.D, img)
            d = sum(
                (_unit(f) - t).square().sum(1).mean(dim=(1, 2))
                for f, t in zip(feats, self.target_feats)
            )
            total = total + self.w.disc * d / len(feats)
        small = _shrink(img, PERCEPTUAL_MAX_RES)
        if self.w.pixel > 0:
            total = total + self.w.pixel * (small - self.target).square().mean(dim=(1, 2, 3))
        if self.w.ssim > 0:
            total = total + self.w.ssim * (1 - ms_ssim(small, self.target))
        return total


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of [-1, 1] images (peak-to-peak range 2)."""
    mse = float((a - b).square().mean())
    return float("inf") if mse == 0 else 10 * math.log10(4 / mse)


def distance_for(
    base: Path, target: torch.Tensor, perceptual: list[Path], device
) -> tuple[nn.Module, str]:
    """The projection's loss against `target` and its name: LPIPS on a local VGG16 file,
    else the base checkpoint's own D + pixel + MS-SSIM (pixel + MS-SSIM when it has no D)."""
    from zizi.io.checkpoint import build_discriminator, load_checkpoint, read_header

    if perceptual:
        net, lins = load_perceptual(perceptual)
        kind = "lpips-vgg16" + ("" if lins is not None else " (uniform layer weights)")
        return VGGDistance(net.to(device), lins, target).to(device), kind
    if "D" in read_header(base).get("nets", {}):
        D = build_discriminator(load_checkpoint(base, nets=["D"])).to(device)
        return OwnDistance(D, target), "own: discriminator features + pixel + ms-ssim"
    weights = OwnWeights(disc=0.0)
    return OwnDistance(
        None, target, weights
    ), "own: pixel + ms-ssim (the base has no discriminator)"
