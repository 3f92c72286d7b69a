"""The mirror: a photo's reflection through the base network and the shifted one.

Privacy by default: the photo, its aligned crop and the projected latent live in memory
only. The folder receives the renders (`mirror.png`, and `mirror.mp4` with a clip); the
latent is written (`latent.safetensors`) only when the caller asks with `keep_latent`.
The crop and the photo are never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import CheckpointError, ZiziError
from zizi.mirror.losses import distance_for
from zizi.mirror.photo import AlignChoice, frame, load_photo, to_tensor
from zizi.mirror.project import ProjectConfig

if TYPE_CHECKING:
    import numpy as np
    import torch

    from zizi.credentials.keys import Credentials

STILL_NAME = "mirror.png"
VIDEO_NAME = "mirror.mp4"
LATENT_NAME = "latent.safetensors"
STATEMENT = (
    "AI-generated: a generative neural network's (StyleGAN2) reconstruction of a "
    "photographed face, drawn by zizi mirror; the photo, its crop and the latent "
    "were not kept."
)
KEPT_STATEMENT = STATEMENT.replace(
    "the photo, its crop and the latent were not kept",
    "the photo and its crop were not kept; the latent was kept at the person's request",
)


@dataclass(frozen=True)
class MirrorConfig:
    project: ProjectConfig = ProjectConfig()  # the search in the base model's latent space
    align: AlignChoice = (
        "face"  # "face": FFHQ alignment like `dataset prepare`; "center" for non-face models
    )
    video: bool = False  # also render the reflection through every frame of the shift
    frames: int = 120  # clip length: 4 s at 30 fps, long enough to watch the face change
    fps: float = 30.0  # the render default
    keep_latent: bool = False  # write the latent (w/w+ and noise maps) beside the renders
    size: int | None = (
        None  # side of each face in mirror.png (Lanczos, as render --size); None = the model's
    )


def shifted_checkpoints(source: str | Path) -> tuple[Path, list[Path]]:
    """(the shifted checkpoint, every checkpoint from the start of its run to it).

    A checkpoint file is itself, with no frames in between. A run folder gives its newest
    frame (or latest.safetensors when it has no frames) and its frames after kimg 0 (frame 0
    is the base by the run-folder contract).
    """
    from zizi.render.weights import find_checkpoints

    p = Path(source)
    if not p.exists():
        raise CheckpointError(f"--shifted {p} not found")
    if p.is_dir():
        from zizi.io.runs import latest_path, list_frames

        frames = list_frames(p)  # the run's contract, confined to the run
        if frames:
            paths, _ = find_checkpoints([p])
            between = [f for n, f in frames if n != 0]  # frame 0 is the base
            return paths[-1], between or [paths[-1]]
        latest = latest_path(p)
        if latest.is_file():
            return latest, [latest]
        raise CheckpointError(
            f"--shifted {p} is a folder with neither frames/ nor "
            "latest.safetensors; give a run folder or a checkpoint file"
        )
    return p, [p]


def _check_pair(base: Path, shifted: Path) -> None:
    from zizi.render.weights import read_stops

    if base.is_dir():
        raise CheckpointError(f"--checkpoint {base} is a folder; give the base checkpoint file")
    if not base.exists():
        raise CheckpointError(f"--checkpoint {base} not found")
    a, b = (s.g_config for s in read_stops([base]) + read_stops([shifted]))
    for key, what in (("img_resolution", "resolution"), ("w_dim", "w_dim")):
        if a.get(key) != b.get(key):
            raise CheckpointError(
                f"the checkpoints do not match: {base.name} has {what} {a.get(key)}, "
                f"{shifted.name} has {b.get(key)}; --shifted must be a fine-tune of --checkpoint"
            )
    read_stops([base, shifted])  # one line naming any other difference of architecture


def _resized(face: np.ndarray, size: int | None) -> np.ndarray:
    """A [R, R, 3] face at `size` px a side (Lanczos, as `zizi render --size`)."""
    import numpy as np
    from PIL import Image

    if size is None or size == face.shape[0]:
        return face
    return np.asarray(Image.fromarray(face).resize((size, size), Image.LANCZOS))


def mirror(
    photo: str | Path,
    ckpt: str | Path,
    shifted: str | Path,
    out: str | Path,
    cfg: MirrorConfig,
    device: torch.device,
    *,
    perceptual: list[str | Path] | None = None,
    encoder: str | Path | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    credentials: Credentials | None = None,
) -> list[Path]:
    """Reflect `photo` through `ckpt` and `shifted`; returns the files written, signed
    (C2PA) with `credentials` when given.

    `progress(stage, done, total)` with stage "project" or "video". With `encoder` (a file
    from `zizi encoder train` for `ckpt`) the search starts from its guess; with it,
    `cfg.project.steps == 0` keeps the guess as it is (one forward pass).
    """
    import numpy as np

    from zizi.credentials.manifest import sealer
    from zizi.files import write_bytes, write_png
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.mirror.project import encode, project, synthesize_projection
    from zizi.render import provenance
    from zizi.render.images import to_uint8

    base = Path(ckpt)
    out = Path(out)
    shifted_path, between = shifted_checkpoints(shifted)
    _check_pair(base, shifted_path)
    if out.exists() and not out.is_dir():
        raise ZiziError(f"--out {out} is a file; give a folder for the renders")
    names = (
        [STILL_NAME]
        + ([VIDEO_NAME] if cfg.video else [])
        + ([LATENT_NAME] if cfg.keep_latent else [])
    )
    taken = [n for n in names if (out / n).exists()]
    if taken and not force:
        raise ZiziError(f"{out / taken[0]} already exists; pass --force to overwrite it")
    if cfg.project.steps < 1 and encoder is None:
        raise ZiziError("--steps 0 keeps an encoder's guess; give --encoder (or at least 1 step)")
    enc = None
    if encoder is not None:  # a wrong encoder is refused before the photo is even read
        from zizi.mirror.encoder import load_encoder
        from zizi.render.provenance import sha256_file

        enc, _ = load_encoder(encoder, sha256_file(base))
    if cfg.video:  # a missing ffmpeg is reported before minutes of projection
        from zizi.render.encode import check_encoder, ffmpeg_exe

        check_encoder(ffmpeg_exe(), "mp4")

    image = load_photo(photo)  # in memory only, like everything derived from it below
    G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema").to(device)
    target = to_tensor(frame(image, G.img_resolution, cfg.align)).to(device)  # [1, 3, R, R]
    del image
    if G.img_channels != 3:
        raise ZiziError(f"the base model draws {G.img_channels}-channel images; mirror needs RGB")
    guess = encode(G, enc, target) if enc is not None else None
    loss_kind = "none (encoder only)"
    if cfg.project.steps > 0:
        distance, loss_kind = distance_for(
            base, target, [Path(p) for p in perceptual or []], device
        )
        cb = None if progress is None else (lambda i, n, _loss: progress("project", i, n))
        proj = project(
            G, target, distance, cfg.project, progress=cb, init=None if guess is None else guess.ws
        )
        del distance
    else:
        proj = guess
    del target, guess

    G_shift = build_generator(load_checkpoint(shifted_path, nets=["G_ema"]), "G_ema").to(device)
    pair = [_resized(to_uint8(synthesize_projection(g, proj))[0], cfg.size) for g in (G, G_shift)]
    del G, G_shift

    ckpts = [provenance.checkpoint_entry(base), provenance.checkpoint_entry(shifted_path)]
    config = {
        "command": "mirror",
        **asdict(cfg),
        "loss": loss_kind,
        "left": base.name,
        "right": shifted_path.name,
    }
    if encoder is not None:
        config["encoder"] = provenance.checkpoint_entry(encoder)
    doc = provenance.record("image", ckpts, config)
    doc["statement"] = KEPT_STATEMENT if cfg.keep_latent else STATEMENT
    written = [
        write_png(
            out / STILL_NAME,
            np.concatenate(pair, axis=1),
            text=provenance.png_text(doc),
            seal=sealer(doc, credentials),
        )
    ]

    if cfg.video:
        written.append(
            _video(
                base,
                between,
                proj,
                out / VIDEO_NAME,
                cfg,
                device,
                doc,
                force,
                progress,
                credentials,
            )
        )
    if cfg.keep_latent:
        from zizi.latents import latent_bytes

        written.append(
            write_bytes(
                out / LATENT_NAME, latent_bytes(proj, cfg.project.space, ckpts[0]["sha256"])
            )
        )
    return written


def _video(
    base: Path,
    between: list[Path],
    proj,
    path: Path,
    cfg: MirrorConfig,
    device,
    doc: dict[str, Any],
    force: bool,
    progress: Callable[[str, int, int], None] | None,
    credentials: Credentials | None = None,
) -> Path:
    """The reflection through every checkpoint from the base to the shifted one, weights
    blended in place by render's machinery (not a crossfade), the projected noise held."""
    from zizi.mirror.project import set_noise
    from zizi.render import job, provenance
    from zizi.render.batches import synthesize
    from zizi.render.timeline import ease, locate
    from zizi.render.weights import WeightBlender, knots, read_stops

    stops = read_stops([base, *between])
    ks = knots(stops, "even")
    blender = WeightBlender(stops, device)
    n = max(2, cfg.frames)

    def frames(start: int, stop: int) -> Iterator[list[np.ndarray]]:
        for i in range(start, stop):
            seg, t = locate(ease(i / (n - 1), "smooth"), ks)
            G = blender.set(seg, t)
            set_noise(
                G, proj.noise
            )  # the blend moved the stored noise; the reflection keeps its own
            yield [synthesize(G, ws=proj.ws)[0]]

    res = blender.G.img_resolution
    record = {**doc, "kind": "video"}
    record["checkpoints"] = [provenance.checkpoint_entry(s.path, s.extra) for s in stops]
    plan = {
        "command": "mirror",
        "frames": n,
        "fps": cfg.fps,
        "checkpoints": [c["sha256"] for c in record["checkpoints"]],
    }
    cb = None if progress is None else (lambda d, c: progress("video", d, c))
    job.run(
        [job.Output(path, record)],
        frames,
        count=n,
        fps=cfg.fps,
        size=(res, res),
        plan=plan,
        segment_frames=n,
        force=force,
        progress=cb,
        credentials=credentials,
    )
    return path
