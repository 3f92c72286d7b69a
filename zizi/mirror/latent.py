"""The standalone projector: a photo's face in, a latent file out.

The file's format (ws and fitted noise maps) has one owner, `zizi.latents`; `zizi mirror
--keep-latent` writes the same file, `zizi generate --latent` and `zizi render walk
--keyframe-latent` read it.

Privacy as in the mirror: the photo and its aligned crop live in memory only; the latent
is the one file written, because the person asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zizi.errors import ZiziError
from zizi.mirror.photo import AlignChoice
from zizi.mirror.project import ProjectConfig

if TYPE_CHECKING:
    import torch


def project_photo(photo: str | Path, ckpt: str | Path, out: str | Path, cfg: ProjectConfig,
                  device: torch.device, *, align: AlignChoice = "face",
                  perceptual: list[str | Path] | None = None, force: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Project the face in `photo` into `ckpt` and write the latent to `out` (only that)."""
    from zizi.files import write_bytes
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.latents import latent_bytes
    from zizi.mirror.photo import frame, load_photo
    from zizi.mirror.project import project
    from zizi.mirror.reflect import _distance, _to_tensor
    from zizi.render import provenance

    ckpt, out = Path(ckpt), Path(out)
    if out.suffix != ".safetensors":
        raise ZiziError(f"--out {out} must end in .safetensors")
    if out.exists() and not force:
        raise ZiziError(f"{out} already exists; pass --force to overwrite it")
    if not ckpt.is_file():
        raise ZiziError(f"--ckpt {ckpt} not found (give a checkpoint file)")
    image = load_photo(photo)  # in memory only, like everything derived from it below
    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema").to(device)
    if G.img_channels != 3:
        raise ZiziError(f"the model draws {G.img_channels}-channel images; projection needs RGB")
    target = _to_tensor(frame(image, G.img_resolution, align)).to(device)  # [1, 3, R, R]
    del image
    distance, _ = _distance(ckpt, target, [Path(p) for p in perceptual or []], device)
    cb = None if progress is None else (lambda i, n, _loss: progress(i, n))
    proj = project(G, target, distance, cfg, progress=cb)
    del target, distance
    sha = provenance.checkpoint_entry(ckpt)["sha256"]
    return write_bytes(out, latent_bytes(proj, cfg.space, sha))
