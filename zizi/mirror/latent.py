"""A projected latent on disk, and the standalone projector that writes one.

`latent.safetensors` holds `ws` ([1, num_ws, w_dim]: w broadcast to every layer for space
"w", one per layer for "w+") and the fitted noise maps (`noise.<layer>.noise_const`), with
the space and the sha256 of the checkpoint it was found in as metadata. `zizi mirror
--keep-latent` and `zizi project` write it; `zizi generate --latent` draws it through any
checkpoint of the same shape (the base, or a fine-tune of it: the mirror by hand).

Privacy as in the mirror: the photo and its aligned crop live in memory only; the latent
is the one file written, because the person asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zizi.errors import ZiziError
from zizi.mirror.photo import AlignChoice
from zizi.mirror.project import ProjectConfig

if TYPE_CHECKING:
    import torch

    from zizi.mirror.project import Projection
    from zizi.nets.generator import Generator


@dataclass
class Latent:
    ws: torch.Tensor  # [1, num_ws, w_dim]
    noise: dict[str, torch.Tensor]  # noise map per synthesis layer (its noise_const name)
    space: str  # "w" or "w+"
    checkpoint_sha256: str  # of the checkpoint it was projected into


def latent_bytes(proj: Projection, space: str, checkpoint_sha256: str) -> bytes:
    """The file's bytes (safetensors), for `zizi.files.write_bytes`."""
    from safetensors.torch import save

    tensors = {"ws": proj.ws.cpu().contiguous()}
    tensors.update({f"noise.{k}": v.cpu().contiguous() for k, v in proj.noise.items()})
    return save(tensors, metadata={"space": space, "checkpoint_sha256": checkpoint_sha256})


def read_latent(path: str | Path) -> Latent:
    """Read a latent file; anything else is one clear error."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ZiziError(f"--latent {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a latent file"
        raise ZiziError(f"{path} is not a latent file (`zizi project` or `zizi mirror "
                        f"--keep-latent` write them): {e}") from None
    ws = tensors.pop("ws", None)
    if ws is None or ws.ndim != 3 or ws.shape[0] != 1:
        raise ZiziError(f"{path} holds no [1, num_ws, w_dim] `ws`; it is not a zizi latent")
    noise = {k.removeprefix("noise."): v for k, v in tensors.items() if k.startswith("noise.")}
    return Latent(ws=ws, noise=noise, space=meta.get("space", "?"),
                  checkpoint_sha256=meta.get("checkpoint_sha256", ""))


def draw_latent(G: Generator, latent: Latent) -> torch.Tensor:
    """G's image of a latent ([1, C, R, R]), with its noise maps where G has those layers."""
    from zizi.mirror.project import Projection, noise_layers, synthesize_projection

    if tuple(latent.ws.shape[1:]) != (G.num_ws, G.w_dim):
        raise ZiziError(f"the latent is for a network with {latent.ws.shape[1]} ws of "
                        f"{latent.ws.shape[2]} dims; this one has {G.num_ws} of {G.w_dim} "
                        "(use a checkpoint of the same architecture)")
    layers = noise_layers(G)
    noise = {k: v for k, v in latent.noise.items()
             if k in layers and tuple(v.shape) == tuple(layers[k].noise_const.shape)}
    return synthesize_projection(G, Projection(ws=latent.ws, noise=noise))


def project_photo(photo: str | Path, ckpt: str | Path, out: str | Path, cfg: ProjectConfig,
                  device: torch.device, *, align: AlignChoice = "face",
                  perceptual: list[str | Path] | None = None, force: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Project the face in `photo` into `ckpt` and write the latent to `out` (only that)."""
    from zizi.files import write_bytes
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.mirror.losses import distance_for
    from zizi.mirror.photo import frame, load_photo, to_tensor
    from zizi.mirror.project import project
    from zizi.render import provenance

    ckpt, out = Path(ckpt), Path(out)
    if out.suffix != ".safetensors":
        raise ZiziError(f"--out {out} must end in .safetensors")
    if out.exists() and not force:
        raise ZiziError(f"{out} already exists; pass --force to overwrite it")
    if not ckpt.is_file():
        raise ZiziError(f"--checkpoint {ckpt} not found (give a checkpoint file)")
    image = load_photo(photo)  # in memory only, like everything derived from it below
    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema").to(device)
    if G.img_channels != 3:
        raise ZiziError(f"the model draws {G.img_channels}-channel images; projection needs RGB")
    target = to_tensor(frame(image, G.img_resolution, align)).to(device)  # [1, 3, R, R]
    del image
    distance, _ = distance_for(ckpt, target, [Path(p) for p in perceptual or []], device)
    cb = None if progress is None else (lambda i, n, _loss: progress(i, n))
    proj = project(G, target, distance, cfg, progress=cb)
    del target, distance
    sha = provenance.checkpoint_entry(ckpt)["sha256"]
    return write_bytes(out, latent_bytes(proj, cfg.space, sha))
