"""What a render shows: weight shift across training, latent walks, and their layout.

`shift` and `walk` turn settings into a frame producer for `zizi.render.job.run`: for
each frame index, one image per channel (a single face or a grid of faces). Every frame
depends only on its index, which is what makes segments and `--resume` exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ConfigError, ZiziError
from zizi.render import job, provenance
from zizi.render.batches import synthesize
from zizi.render.encode import output_kind
from zizi.render.paths import LatentWalk, keyframe_z
from zizi.render.timeline import ease, locate, there_and_back
from zizi.render.weights import WeightBlender, find_checkpoints, knots, read_stops

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass
class RenderSettings:
    """Everything that decides a render's pixels (stored in provenance and the resume plan)."""

    frames: int  # total frames (from --seconds/--frames and --fps)
    fps: float = 30.0  # exhibition players and browsers all handle 30 fps
    seeds: list[int] | None = None  # one per face; None = 0..faces-1
    grid: tuple[int, int] = (1, 1)  # faces across, down in each channel
    channels: int = 1  # synchronised videos with different seeds (the room's screens)
    trunc: float = 1.0  # psi: 1 = the network as trained
    trunc_cutoff: int | None = None  # truncate only the first N ws (None = all)
    noise_mode: str = "const"  # stored noise maps: nothing flickers
    class_idx: int | None = None  # label for a conditional net
    easing: str = "smooth"  # slow in and out at the ends (and keyframes)
    loop: bool = False  # the frame after the last equals the first
    size: int | None = None  # face size in px in the video (None = the net's resolution)
    timing: str = "even"  # shift: equal time per checkpoint step, or by kimg
    walk: bool = False  # shift: faces also drift through latent space
    keyframes: int = 4  # walk: keyframes per face (keyframe 0 = the face's seed)
    space: str = "z"  # walk: interpolate z, or w after mapping
    interp: str = "slerp"  # walk: linear, slerp (keeps z on its shell) or cubic (Catmull-Rom)
    segment_frames: int = 900  # 30 s at 30 fps: a crash loses at most this much work
    batch: int = 1  # faces per forward pass (1 on the CPU is fastest per image)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def faces(self) -> int:
        return self.grid[0] * self.grid[1] * self.channels

    def seed_list(self) -> list[int]:
        need = self.faces
        seeds = self.seeds if self.seeds is not None else list(range(need))
        if len(seeds) < need:
            w, h = self.grid
            raise ConfigError(f"{w}x{h} grid × {self.channels} channel(s) shows {need} faces but "
                              f"--seeds gives {len(seeds)}; give at least {need} seeds (e.g. "
                              f"--seeds 0-{need - 1})")
        return seeds


def validate(s: RenderSettings) -> None:
    if s.frames < 1:
        raise ConfigError("the render has no frames; give a positive --seconds or --frames")
    if s.fps <= 0 or not math.isfinite(s.fps):
        raise ConfigError(f"--fps must be positive, not {s.fps}")
    if s.loop and s.frames < 2:
        raise ConfigError("a loop needs at least 2 frames")
    if s.grid[0] < 1 or s.grid[1] < 1 or s.channels < 1:
        raise ConfigError("--grid and --channels must be at least 1")
    if not math.isfinite(s.trunc):
        raise ConfigError(f"--trunc {s.trunc} is not a number; use e.g. 0.7")
    if s.size is not None and s.size < 1:
        raise ConfigError("--size must be a positive number of pixels")
    if s.easing not in ("linear", "smooth"):
        raise ConfigError(f"unknown easing {s.easing!r}; use linear or smooth")
    if s.space not in ("z", "w"):
        raise ConfigError(f"unknown space {s.space!r}; use z or w")
    s.seed_list()


def compose(images: np.ndarray, s: RenderSettings) -> list[np.ndarray]:
    """[faces, h, w, 3] -> one frame per channel (a grid of its faces, resized to --size)."""
    import numpy as np
    from PIL import Image

    from zizi.render.images import make_grid

    cells = s.grid[0] * s.grid[1]
    out = []
    for c in range(s.channels):
        part = images[c * cells:(c + 1) * cells]
        frame = part[0] if cells == 1 else make_grid(part, cols=s.grid[0])
        if s.size is not None and s.size != images.shape[1]:
            size = (s.size * s.grid[0], s.size * s.grid[1])
            frame = np.asarray(Image.fromarray(frame).resize(size, Image.LANCZOS))
        out.append(np.ascontiguousarray(frame))
    return out


def frame_size(s: RenderSettings, res: int) -> tuple[int, int]:
    face = s.size or res
    return face * s.grid[0], face * s.grid[1]


def _batched(fn: Callable[[torch.Tensor], np.ndarray], latents: torch.Tensor, batch: int) -> np.ndarray:
    import numpy as np

    return np.concatenate([fn(latents[i:i + batch]) for i in range(0, len(latents), batch)])


def _check_out(out: Path, s: RenderSettings, res: int, force: bool = False) -> None:
    kind = output_kind(out)
    wall = out.parent / "index.html"
    if s.channels > 1 and kind == "mp4" and wall.exists() and not force:
        raise ZiziError(f"{wall} already exists (the preview wall goes there); pass --force to "
                        "overwrite it, or choose another folder")
    w, h = frame_size(s, res)
    if kind == "mp4" and (w % 2 or h % 2):
        raise ConfigError(f"H.264 needs an even frame size, this one is {w}x{h}; pick an even --size")


def _outputs(out: Path, s: RenderSettings, kind: str, ckpts: list[dict[str, Any]],
             dataset_sha: str | None, command: dict[str, Any]) -> list[job.Output]:
    seeds = s.seed_list()
    cells = s.grid[0] * s.grid[1]
    outs = []
    for c, path in enumerate(job.channel_paths(out, s.channels)):
        config = {**command, **asdict(s), "channel": c + 1,
                  "channel_seeds": seeds[c * cells:(c + 1) * cells]}
        config["seeds"] = config["channel_seeds"]
        outs.append(job.Output(path, provenance.record(kind, ckpts, config, dataset_sha)))
    return outs


def _plan(s: RenderSettings, command: dict[str, Any], ckpts: list[dict[str, Any]]) -> dict[str, Any]:
    plan = {**command, **asdict(s), "checkpoints": [c["sha256"] for c in ckpts]}
    plan["grid"] = list(s.grid)
    return plan


def shift(sources: list[str | Path], out: Path, s: RenderSettings, device: torch.device, *,
          resume: bool = False, force: bool = False,
          progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Render the weight shift across `sources` (checkpoint files and/or run folders)."""
    validate(s)
    paths, run = find_checkpoints(sources)
    stops = read_stops(paths)
    ks = knots(stops, s.timing)
    blender = WeightBlender(stops, device)
    G = blender.G
    _check_class(G, s)
    _check_out(out, s, G.img_resolution, force or resume)
    if s.trunc != 1 and not hasattr(G.mapping, "w_avg"):
        raise ConfigError(f"{paths[0].name} stores no average w, so it cannot truncate (--trunc)")
    seeds = s.seed_list()[:s.faces]
    z_keys = keyframe_z(seeds, s.faces, s.keyframes if s.walk else 1, G.z_dim)
    walk = LatentWalk(z_keys, loop=s.loop, interp=s.interp, easing=s.easing)
    n = s.frames

    def frames(start: int, stop: int) -> Iterator[list[np.ndarray]]:
        for i in range(start, stop):
            u = ease(there_and_back(i, n, s.loop), s.easing)
            seg, t = locate(u, ks)
            blender.set(seg, t)  # G's tensors, blended in place
            z = walk.at(i, n)
            imgs = _batched(lambda zz: synthesize(G, z=zz, class_idx=s.class_idx, truncation_psi=s.trunc,
                                                  truncation_cutoff=s.trunc_cutoff,
                                                  noise_mode=s.noise_mode), z, s.batch)
            yield compose(imgs, s)

    ckpts = [provenance.checkpoint_entry(st.path, st.extra) for st in stops]
    dataset_sha = provenance.dataset_manifest_sha256(run, [st.extra for st in stops])
    command = {"command": "render shift", "sources": [str(x) for x in sources]}
    if changes := provenance.dataset_changes(run):  # the frames span more than one dataset
        command["dataset_changes"] = changes
    return _render(out, s, frames, n, G.img_resolution, ckpts, dataset_sha, command,
                   resume=resume, force=force, progress=progress)


def walk(checkpoint: str | Path, out: Path, s: RenderSettings, device: torch.device, *,
         resume: bool = False, force: bool = False,
         progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Render a latent walk of `checkpoint`: keyframes per face, noise held fixed."""
    import torch

    from zizi.io.checkpoint import build_generator, load_checkpoint

    validate(s)
    path = Path(checkpoint)
    if path.is_dir():
        raise ZiziError(f"{path} is a folder; `render walk` takes one checkpoint file "
                        "(a run's frames/ or latest.safetensors)")
    ck = load_checkpoint(path, nets=["G_ema"])
    G = build_generator(ck, "G_ema").to(device)
    _check_class(G, s)
    _check_out(out, s, G.img_resolution, force or resume)
    if s.trunc != 1 and not hasattr(G.mapping, "w_avg"):
        raise ConfigError(f"{path.name} stores no average w, so it cannot truncate (--trunc)")
    seeds = s.seed_list()
    z_keys = keyframe_z(seeds, s.faces, s.keyframes, G.z_dim)  # [F, K, z_dim]
    F, K = z_keys.shape[:2]
    if s.space == "w":
        from zizi.render.batches import one_hot

        with torch.no_grad():
            zz = z_keys.reshape(F * K, -1).to(device)
            ws = G.mapping(zz, one_hot(F * K, G.c_dim, s.class_idx, device), s.trunc, s.trunc_cutoff)
        keys = ws.reshape(F, K, *ws.shape[1:])
    else:
        keys = z_keys.to(device)
    path_ = LatentWalk(keys, loop=s.loop, interp=s.interp, easing=s.easing)
    n = s.frames
    per_pass = max(1, s.batch // F) if s.batch >= F else 1

    def render_latents(lat: torch.Tensor) -> np.ndarray:
        kw = {"ws": lat} if s.space == "w" else {"z": lat}
        return synthesize(G, class_idx=s.class_idx, truncation_psi=s.trunc,
                          truncation_cutoff=s.trunc_cutoff, noise_mode=s.noise_mode, **kw)

    def frames(start: int, stop: int) -> Iterator[list[np.ndarray]]:
        for i0 in range(start, stop, per_pass):
            idx = list(range(i0, min(i0 + per_pass, stop)))
            lat = torch.cat([path_.at(i, n) for i in idx])  # [len(idx) * F, ...]
            imgs = _batched(render_latents, lat, max(s.batch, 1))
            for j in range(len(idx)):
                yield compose(imgs[j * F:(j + 1) * F], s)

    ckpts = [provenance.checkpoint_entry(path, ck.extra)]
    dataset_sha = provenance.dataset_manifest_sha256(None, [ck.extra])
    command = {"command": "render walk", "sources": [str(path)]}
    return _render(out, s, frames, n, G.img_resolution, ckpts, dataset_sha, command,
                   resume=resume, force=force, progress=progress)


def _render(out: Path, s: RenderSettings, frames: Callable[[int, int], Iterator[list[np.ndarray]]],
            n: int, resolution: int, ckpts: list[dict], dataset_sha: str | None, command: dict, *,
            resume: bool, force: bool, progress: Callable[[int, int], None] | None) -> list[Path]:
    """Encode `n` frames into `out` (video or PNG sequence) with provenance; the shared tail
    of every scene."""
    outputs = _outputs(out, s, "video" if output_kind(out) != "png" else "image sequence",
                       ckpts, dataset_sha, command)
    job.run(outputs, frames, count=n, fps=s.fps, size=frame_size(s, resolution),
            plan=_plan(s, command, ckpts), segment_frames=s.segment_frames, resume=resume,
            force=force, progress=progress)
    return _finish(outputs, s, out)


def _check_class(G, s: RenderSettings) -> None:
    if G.c_dim > 0 and s.class_idx is None:
        raise ConfigError(f"the checkpoint is conditional ({G.c_dim} classes): pass --class N")
    if s.class_idx is not None and (G.c_dim == 0 or s.class_idx >= G.c_dim):
        raise ConfigError("--class does not fit this checkpoint "
                          f"({'no classes' if G.c_dim == 0 else f'classes 0-{G.c_dim - 1}'})")


def _finish(outputs: list[job.Output], s: RenderSettings, out: Path) -> list[Path]:
    paths = [o.path for o in outputs]
    if s.channels > 1 and output_kind(out) == "mp4":
        paths.append(job.write_wall([o.path for o in outputs], s.fps, provenance.STATEMENT))
    return paths
