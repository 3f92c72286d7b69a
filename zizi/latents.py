"""Seeds and latents: `--seeds 0-7,42` syntax, the reference tools' z for a seed, and the
latent file (`latent.safetensors`) that `zizi project` and `zizi mirror --keep-latent` write.

A seed means what it means in NVIDIA's tools: z = RandomState(seed).randn(z_dim) in
float64, cast to float32, so seed 42 of an imported FFHQ checkpoint is the face people know.

A latent file holds `ws` ([1, num_ws, w_dim]: w broadcast to every layer for space "w",
one per layer for "w+") and the fitted noise maps (`noise.<layer>.noise_const`), with the
space and the sha256 of the checkpoint it was found in as metadata. This module is its one
reader and writer: `generate --latent` and `render walk --keyframe-latent` read it here,
so both refuse a latent for another shape of network in the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ConfigError, ZiziError

if TYPE_CHECKING:
    import torch

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
MAX_SEED = 2**32 - 1  # numpy RandomState accepts 0 .. 2**32-1
MAX_SEEDS = 1_000_000


def parse_seeds(text: str) -> list[int]:
    """'0-7,42' -> [0, 1, ..., 7, 42]; order kept, duplicates dropped."""
    if not text or not text.strip():
        raise ConfigError("no seeds given; use e.g. --seeds 0-7,42")
    seeds: list[int] = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ConfigError(
                f"bad seed {part.strip()!r} in {text!r}; use numbers and ranges like 0-7,42"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ConfigError(f"seed range {part.strip()!r} runs backwards")
        if hi > MAX_SEED:
            raise ConfigError(f"seed {hi} is too large (seeds go from 0 to {MAX_SEED})")
        if len(seeds) + (hi - lo + 1) > MAX_SEEDS:
            raise ConfigError(f"too many seeds (more than {MAX_SEEDS})")
        seeds.extend(range(lo, hi + 1))
    return list(dict.fromkeys(seeds))


def z_for_seeds(seeds: list[int], z_dim: int):
    """[len(seeds), z_dim] float32 tensor of the reference latents."""
    import numpy as np
    import torch

    z = np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])
    return torch.from_numpy(z).to(torch.float32)


@dataclass
class Latent:
    """A projected face: what a latent file holds."""

    ws: torch.Tensor  # [1, num_ws, w_dim]
    noise: dict[str, torch.Tensor]  # noise map per synthesis layer (its noise_const name)
    space: str  # "w" or "w+"
    checkpoint_sha256: str  # of the checkpoint it was projected into
    path: Path | None = None  # where it was read from (named in errors)


def latent_bytes(proj: Any, space: str, checkpoint_sha256: str) -> bytes:
    """The file's bytes (safetensors) for `zizi.files.write_bytes`; `proj` has `.ws`
    ([1, num_ws, w_dim]) and `.noise` (a projection, or a `Latent`)."""
    from safetensors.torch import save

    tensors = {"ws": proj.ws.cpu().contiguous()}
    tensors.update({f"noise.{k}": v.cpu().contiguous() for k, v in proj.noise.items()})
    return save(tensors, metadata={"space": space, "checkpoint_sha256": checkpoint_sha256})


def read_latent(path: str | Path, option: str = "--latent") -> Latent:
    """Read a latent file; anything else is one clear error naming `option`."""
    import torch
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ZiziError(f"{option} {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a latent file"
        raise ZiziError(
            f"{path} is not a latent file (`zizi project` or `zizi mirror "
            f"--keep-latent` write them): {e}"
        ) from None
    ws = tensors.pop("ws", None)
    if ws is None or ws.ndim != 3 or ws.shape[0] != 1 or not ws.is_floating_point():
        raise ZiziError(f"{path} holds no [1, num_ws, w_dim] `ws`; it is not a zizi latent")
    if not torch.isfinite(ws).all():
        raise ZiziError(f"{path}: its ws hold NaN or infinite numbers; project the photo again")
    noise = {
        k.removeprefix("noise."): v.float() for k, v in tensors.items() if k.startswith("noise.")
    }
    return Latent(
        ws=ws.float(),
        noise=noise,
        space=meta.get("space", "?"),
        checkpoint_sha256=meta.get("checkpoint_sha256", ""),
        path=path,
    )


def check_fits(latent: Latent, G: Any) -> None:
    """Refuse a latent found in another shape of network (a fine-tune of the same
    architecture is fine: that is the mirror by hand)."""
    if tuple(latent.ws.shape[1:]) != (G.num_ws, G.w_dim):
        name = f"{latent.path.name} " if latent.path is not None else ""
        raise ZiziError(
            f"the latent {name}is for a network with {latent.ws.shape[1]} ws of "
            f"{latent.ws.shape[2]} dims; this one has {G.num_ws} of {G.w_dim} "
            "(use a checkpoint of the same architecture)"
        )


def noise_layers(G: Any) -> dict[str, torch.nn.Module]:
    """The synthesis layers that add per-pixel noise, by the name of their `noise_const`."""
    return {
        f"{name}.noise_const": m
        for name, m in G.named_modules()
        if getattr(m, "use_noise", False) and hasattr(m, "noise_const")
    }


def set_noise(G: Any, noise: dict[str, torch.Tensor]) -> None:
    """Put noise maps into G's `noise_const` buffers (in place)."""
    import torch

    layers = noise_layers(G)
    for name, n in noise.items():
        buf = layers[name].noise_const
        if tuple(buf.shape) != tuple(n.shape):
            raise ZiziError(
                f"noise map {name} is shaped {tuple(n.shape)}, the net has {tuple(buf.shape)}"
            )
        with torch.no_grad():
            buf.copy_(n.to(buf.device, buf.dtype))


def fitted_noise(G: Any, latent: Latent) -> dict[str, torch.Tensor]:
    """The latent's noise maps that fit G's layers (others keep G's stored maps)."""
    layers = noise_layers(G)
    return {
        k: v
        for k, v in latent.noise.items()
        if k in layers and tuple(v.shape) == tuple(layers[k].noise_const.shape)
    }


def draw_latent(
    G: Any, latent: Latent, noise_mode: str = "const", noise_seed: int = 0
) -> torch.Tensor:
    """G's image of a latent ([1, C, R, R] float in about [-1, 1]).

    `noise_mode="const"` draws with the latent's fitted noise maps (where G has those
    layers; G's stored maps elsewhere): the face as projected. "random" draws fresh noise
    from a generator seeded with `noise_seed` (as `render` does every frame), "none" none.
    G's own maps are restored afterwards.
    """
    import torch

    check_fits(latent, G)
    dev = next(G.parameters()).device
    layers = noise_layers(G)
    saved = {name: m.noise_const.detach().clone() for name, m in layers.items()}
    gen = torch.Generator(device=dev).manual_seed(noise_seed)
    try:
        if noise_mode == "const":
            set_noise(G, fitted_noise(G, latent))
        with torch.no_grad():
            return G.synthesis(
                latent.ws.to(dev), noise_mode=noise_mode, generator=gen, force_fp32=True
            )
    finally:
        set_noise(G, saved)
