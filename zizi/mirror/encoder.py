"""The learned inverter: a small convolutional net that maps an image to one generator's W+.

One forward pass replaces hundreds of projection steps (the encoder idea of pSp, Richardson
et al. 2021, and e4e, Tov et al. 2021, kept small here so that it runs at video rates on a
CPU for 32² models). It predicts an offset from the generator's mean w, so an untrained
encoder already answers with the average face. An encoder belongs to one generator: its
file records that generator's sha256, num_ws and w_dim, and `load_encoder` refuses another.

File: safetensors, tensors `net.*` and `w_avg`, metadata `zizi_encoder` (format version,
the EncoderArch, the generator's identity, training kimg, provenance), as plain JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zizi.errors import ZiziError

FORMAT = "zizi-encoder"
FORMAT_VERSION = 1


class EncoderError(ZiziError):
    """An encoder file is missing, damaged, or made for another generator."""


@dataclass(frozen=True)
class EncoderArch:
    """The encoder's shape: fixed when it is built, stored in its file."""

    resolution: int  # the generator's image size (the encoder's input is shrunk to in_res)
    num_ws: int  # how many w vectors the generator's synthesis takes (W+)
    w_dim: int  # length of each w
    in_res: int = 32  # the image is area-downsampled to this before the convs (cost is fixed by it)
    channels: int = 32  # channels of the first conv; doubled at every halving
    max_channels: int = 128  # cap on the channels (the size of the net grows with its square)
    hidden: int = 256  # width of the fully connected layer before the W+ head


# One preset per generator resolution: small enough for video rates on the device it targets
# (32²-64²: a laptop CPU; 256² and up: a GPU), measured in benchmarks/encoder.py.
PRESETS: dict[int, dict[str, int]] = {
    32: {"in_res": 32, "channels": 32, "max_channels": 64, "hidden": 128},
    64: {"in_res": 64, "channels": 32, "max_channels": 128, "hidden": 256},
    128: {"in_res": 128, "channels": 32, "max_channels": 192, "hidden": 512},
    256: {"in_res": 256, "channels": 32, "max_channels": 256, "hidden": 512},
}


def preset(resolution: int, num_ws: int, w_dim: int) -> EncoderArch:
    """The preset for a generator (models above 256² are encoded from a 256² copy)."""
    key = min(max(resolution, 32), 256)
    key = 1 << int(math.log2(key))
    return EncoderArch(resolution=resolution, num_ws=num_ws, w_dim=w_dim, **PRESETS[key])


class Encoder(nn.Module):
    """image [N, 3, R, R] in [-1, 1] -> ws [N, num_ws, w_dim]."""

    def __init__(self, arch: EncoderArch, w_avg: torch.Tensor | None = None) -> None:
        super().__init__()
        self.arch = arch
        layers: list[nn.Module] = [nn.Conv2d(3, arch.channels, 3, padding=1), nn.LeakyReLU(0.2)]
        c, res = arch.channels, arch.in_res
        while res > 4:  # stride-2 convs down to 4x4: the receptive field covers the face
            c_out = min(c * 2, arch.max_channels)
            layers += [
                nn.Conv2d(c, c_out, 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.LeakyReLU(0.2),
            ]
            c, res = c_out, res // 2
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(c * res * res, arch.hidden), nn.LeakyReLU(0.2)
        )
        self.head = nn.Linear(arch.hidden, arch.num_ws * arch.w_dim)
        nn.init.zeros_(self.head.weight)  # start at the mean face: the offset is zero
        nn.init.zeros_(self.head.bias)
        avg = torch.zeros(arch.w_dim) if w_avg is None else w_avg.detach().reshape(arch.w_dim)
        self.register_buffer("w_avg", avg.float().clone())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[-1] != self.arch.in_res:
            img = (
                F.interpolate(img, size=(self.arch.in_res, self.arch.in_res), mode="area")
                if img.shape[-1] > self.arch.in_res
                else F.interpolate(
                    img,
                    size=(self.arch.in_res, self.arch.in_res),
                    mode="bilinear",
                    align_corners=False,
                )
            )
        x = self.fc(self.convs(img))  # [N, hidden]
        offset = self.head(x).view(-1, self.arch.num_ws, self.arch.w_dim)
        return self.w_avg + offset  # [N, num_ws, w_dim]


def generator_identity(G, ckpt_path: str | Path) -> dict[str, Any]:
    """What an encoder records of its generator, so that it is never used with another."""
    from zizi.render.provenance import sha256_file

    return {
        "file": Path(ckpt_path).name,
        "sha256": sha256_file(ckpt_path),
        "resolution": G.img_resolution,
        "num_ws": G.num_ws,
        "w_dim": G.w_dim,
    }


def encoder_bytes(enc: Encoder, info: dict[str, Any]) -> bytes:
    """The encoder file's bytes: weights + JSON metadata (arch, generator, provenance)."""
    from safetensors.torch import save

    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "arch": asdict(enc.arch), **info}
    return save(tensors, metadata={"zizi_encoder": json.dumps(meta, sort_keys=True)})


def read_encoder_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of an encoder file (without reading its weights)."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise EncoderError(
            f"--encoder {p} not found"
            if not p.exists()
            else f"--encoder {p} is a folder; give the encoder file"
        )
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get("zizi_encoder")
    except Exception as e:  # header or size errors all mean "not an encoder file"
        raise EncoderError(
            f"--encoder {p} is not a safetensors file ({type(e).__name__}); "
            "give a file made by `zizi encoder train`"
        ) from None
    if raw is None:
        raise EncoderError(
            f"--encoder {p} is not a zizi encoder (no zizi_encoder metadata); "
            "make one with `zizi encoder train`"
        )
    meta = json.loads(raw)
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise EncoderError(
            f"--encoder {p} has format {meta.get('format')} v{meta.get('version')}; "
            f"this zizi reads {FORMAT} v{FORMAT_VERSION}"
        )
    return meta


def load_encoder(
    path: str | Path, generator_sha256: str | None = None
) -> tuple[Encoder, dict[str, Any]]:
    """(encoder in eval mode, its metadata). With `generator_sha256`, refuse an encoder that
    was trained for another generator (its W+ would mean nothing to this one)."""
    from safetensors.torch import load_file

    meta = read_encoder_meta(path)
    gen = meta.get("generator", {})
    if generator_sha256 is not None and gen.get("sha256") != generator_sha256:
        raise EncoderError(
            f"--encoder {Path(path).name} was trained for {gen.get('file')} "
            f"(sha256 {str(gen.get('sha256'))[:12]}…), not this --checkpoint; "
            "train one for it with `zizi encoder train`"
        )
    enc = Encoder(EncoderArch(**meta["arch"]))
    state = {k.removeprefix("net."): v for k, v in load_file(str(path)).items()}
    try:
        enc.load_state_dict(state)
    except RuntimeError as e:
        raise EncoderError(
            f"--encoder {path} does not match its own architecture record: {str(e).splitlines()[0]}"
        ) from None
    return enc.eval().requires_grad_(False), meta
