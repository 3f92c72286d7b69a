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
from zizi.render import job, latent_keys, provenance
from zizi.render.batches import synthesize
from zizi.render.blocks import LAYER_ORDERS, stagger
from zizi.render.encode import output_kind
from zizi.render.latent_keys import KeyNoise
from zizi.render.timeline import ease, locate, there_and_back
from zizi.render.walks import LatentWalk, keyframe_z
from zizi.render.weights import WeightBlender, find_checkpoints, knots, read_stops

if TYPE_CHECKING:
    import numpy as np
    import torch

    from zizi.credentials.keys import Credentials
    from zizi.render.images import HostImages
    from zizi.render.job import FrameSource


@dataclass
class RenderSettings:
    """Everything that decides a render's pixels (stored in provenance and the resume plan)."""

    frames: int  # total frames (from --seconds/--frames and --fps; 0 = the --audio track's length)
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
    width: int | None = None  # screen width in px: faces are fitted and centred, never stretched
    height: int | None = None  # screen height in px (with width)
    timing: str = "even"  # shift: equal time per checkpoint step, or by kimg
    walk: bool = False  # shift: faces also drift through latent space
    layers: str = "together"  # shift: every block at once, or coarse-first / fine-first
    keyframes: int = 4  # walk: keyframes per face (keyframe 0 = the face's seed)
    space: str = "z"  # walk: interpolate z, or w after mapping
    interp: str = "slerp"  # walk: linear, slerp (keeps z on its shell) or cubic (Catmull-Rom)
    directions: list[str] | None = (
        None  # walk: SeFa direction numbers and/or "shift", one per column
    )
    amount: float = 3.0  # walk --direction: how far along it (SeFa: -amount..amount)
    directions_file: str | None = None  # walk: a `zizi directions` file (None: factorise CKPT now)
    sefa_layers: str = "all"  # walk: layers of the on-the-fly factorisation
    toward: str | None = None  # walk --direction shift: the fine-tuned checkpoint
    shift_estimate: str = "fit"  # walk: fitted offset in W (fit), or w_avg(B) - w_avg(A) (wavg)
    keyframe_latents: list[str] | None = None  # walk: projected latent files, the first keys
    mix_rows: list[int] | None = None  # mix: seeds down the left (they keep the other ws)
    mix_cols: list[int] | None = None  # mix: seeds along the top (they give mix_styles)
    mix_styles: list[int] | None = None  # mix: the ws indices the column faces give
    mix_walk: str = "both"  # mix: which faces walk (rows, cols, both); the others stay put
    mix_sources: bool = True  # mix: show the row and column faces around the mixed cells
    audio: str | None = None  # a sound track: its loudness and onsets set the pace; muxed in
    audio_trunc: float | None = None  # with audio: psi at the loudest moment (trunc in silence)
    segment_frames: int = 900  # 30 s at 30 fps: a crash loses at most this much work
    batch: int = 1  # faces per forward pass (1 on the CPU is fastest per image)
    encoder: str | None = None  # .mp4 encoder: None = libx264; h264_nvenc/hevc_nvenc on a GPU
    preset: str | None = None  # the encoder's speed preset; None = its default (x264 medium)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def faces(self) -> int:
        return self.grid[0] * self.grid[1] * self.channels

    def seed_list(self) -> list[int]:
        """One seed per face (with --direction, each row's seed repeated along its row;
        for `render mix` the seeds are the rows' and columns', in that order)."""
        need = self.faces
        if self.mix_rows is not None:
            return [*self.mix_rows, *(self.mix_cols or [])]
        if self.directions:
            cols = len(self.directions)
            rows = self.seeds if self.seeds is not None else list(range(need // cols))
            if len(rows) < need // cols:
                raise ConfigError(
                    f"{need // cols} row(s) of faces need {need // cols} seeds, "
                    f"--seeds gives {len(rows)}"
                )
            return [rows[f // cols] for f in range(need)]
        seeds = self.seeds if self.seeds is not None else list(range(need))
        if len(seeds) < need:
            w, h = self.grid
            raise ConfigError(
                f"{w}x{h} grid × {self.channels} channel(s) shows {need} faces but "
                f"--seeds gives {len(seeds)}; give at least {need} seeds (e.g. "
                f"--seeds 0-{need - 1})"
            )
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
    if (s.width is None) != (s.height is None):
        raise ConfigError("give --width and --height together (the screen's size)")
    if s.width is not None:
        from zizi.render.layout import fit_face

        if s.width < 1 or s.height < 1:
            raise ConfigError("--width and --height must be positive numbers of pixels")
        face = fit_face(s.width, s.height, s.grid)
        if s.size is not None and s.size > face:
            raise ConfigError(
                f"--size {s.size}: a {s.grid[0]}x{s.grid[1]} grid of faces that big "
                f"does not fit {s.width}x{s.height}; the largest is {face}"
            )
    if s.easing not in ("linear", "smooth"):
        raise ConfigError(f"unknown easing {s.easing!r}; use linear or smooth")
    if s.layers not in LAYER_ORDERS:
        raise ConfigError(f"unknown --layers {s.layers!r}; use {', '.join(LAYER_ORDERS)}")
    if s.space not in ("z", "w"):
        raise ConfigError(f"unknown space {s.space!r}; use z or w")
    if s.directions and s.grid[0] != len(s.directions):
        raise ConfigError(
            f"{len(s.directions)} --direction(s) make {len(s.directions)} columns, but "
            f"--grid has {s.grid[0]}; use --grid {len(s.directions)}xROWS"
        )
    if s.audio_trunc is not None and (not s.audio or not math.isfinite(s.audio_trunc)):
        raise ConfigError("--audio-trunc needs --audio and a number, e.g. 1.0")
    if s.audio_trunc is not None and (s.directions or s.space == "w"):
        raise ConfigError(
            "--audio-trunc works on `render shift` and z walks (truncation of a "
            "w walk or a direction walk is fixed when its keyframes are made)"
        )
    if s.shift_estimate not in ("fit", "wavg"):
        raise ConfigError(f"unknown shift estimate {s.shift_estimate!r}; use fit or wavg")
    if s.mix_rows is not None and (s.channels != 1 or s.seeds is not None):
        raise ConfigError(
            "`render mix` draws one grid from --mix-rows and --mix-cols; leave "
            "out --seeds and --channels"
        )
    if s.mix_walk not in ("rows", "cols", "both"):
        raise ConfigError(f"unknown --walk {s.mix_walk!r}; use rows, cols or both")
    if s.keyframe_latents and (s.space != "w" or s.directions):
        raise ConfigError(
            "--keyframe-latent walks in W (a projected latent has no z): use "
            "--space w (its default), without --direction"
        )
    if s.directions and not math.isfinite(s.amount):
        raise ConfigError(f"--amount {s.amount} is not a number")
    s.seed_list()


def compose(images: np.ndarray, s: RenderSettings) -> list[np.ndarray]:
    """[faces, h, w, 3] -> one frame per channel (a grid of its faces, resized to --size)."""
    import numpy as np
    from PIL import Image

    from zizi.render.images import make_grid

    cells = s.grid[0] * s.grid[1]
    face = face_size(s, images.shape[1])
    out = []
    for c in range(s.channels):
        part = images[c * cells : (c + 1) * cells]
        if face != images.shape[1]:  # each face scaled alike in x and y (never stretched),
            # one by one, so that no face's filter reaches into its neighbour's pixels
            part = np.stack(
                [np.asarray(Image.fromarray(f).resize((face, face), Image.LANCZOS)) for f in part]
            )
        frame = part[0] if cells == 1 else make_grid(part, cols=s.grid[0])
        if s.width is not None and s.height is not None:
            from zizi.render.layout import place

            frame = place(frame, s.width, s.height)
        out.append(np.ascontiguousarray(frame))
    return out


def face_size(s: RenderSettings, res: int) -> int:
    """A face's side in the video: --size, else the largest that fits --width/--height,
    else the network's resolution."""
    if s.size is not None:
        return s.size
    if s.width is not None and s.height is not None:
        from zizi.render.layout import fit_face

        return fit_face(s.width, s.height, s.grid)
    return res


def frame_size(s: RenderSettings, res: int) -> tuple[int, int]:
    if s.width is not None and s.height is not None:
        return s.width, s.height
    face = face_size(s, res)
    return face * s.grid[0], face * s.grid[1]


def _deferred(
    fn: Callable[[torch.Tensor], HostImages], latents: torch.Tensor, batch: int
) -> Callable[[], np.ndarray]:
    """Queue `fn` on every batch of `latents` now; the pixels, joined, when first asked for.

    The frame producer never waits for a device-to-host copy: the render's writer thread
    calls the result (and composes the frame) while the next frame is being generated.
    """
    import functools

    import numpy as np

    parts = [fn(latents[i : i + batch]) for i in range(0, len(latents), batch)]
    return functools.cache(lambda: np.concatenate([p.numpy() for p in parts]))


def _check_out(out: Path, s: RenderSettings, res: int, force: bool = False) -> None:
    kind = output_kind(out)
    wall = out.parent / "index.html"
    if s.channels > 1 and kind == "mp4" and wall.exists() and not force:
        raise ZiziError(
            f"{wall} already exists (the preview wall goes there); pass --force to "
            "overwrite it, or choose another folder"
        )
    w, h = frame_size(s, res)
    if kind == "mp4" and (w % 2 or h % 2):
        raise ConfigError(
            f"H.264 needs an even frame size, this one is {w}x{h}; pick an even "
            "--size (or --width/--height)"
        )


def _outputs(
    out: Path,
    s: RenderSettings,
    kind: str,
    ckpts: list[dict[str, Any]],
    dataset_sha: str | None,
    command: dict[str, Any],
) -> list[job.Output]:
    seeds = s.seed_list()
    cells = s.grid[0] * s.grid[1]
    outs = []
    for c, path in enumerate(job.channel_paths(out, s.channels)):
        # the command's entries last: its {"file", "sha256"} of the --audio track must not
        # be replaced by the settings' bare path of the same name
        config = {
            **asdict(s),
            **command,
            "channel": c + 1,
            "channel_seeds": seeds[c * cells : (c + 1) * cells],
        }
        config["seeds"] = config["channel_seeds"]
        outs.append(job.Output(path, provenance.record(kind, ckpts, config, dataset_sha)))
    return outs


def _plan(
    s: RenderSettings, command: dict[str, Any], ckpts: list[dict[str, Any]]
) -> dict[str, Any]:
    # the command's entries last: --audio's {"file", "sha256"}, so a resume with another
    # track under the same name is refused as other settings
    plan = {**asdict(s), **command, "checkpoints": [c["sha256"] for c in ckpts]}
    plan["grid"] = list(s.grid)
    return plan


def shift(
    sources: list[str | Path],
    out: Path,
    s: RenderSettings,
    device: torch.device,
    *,
    resume: bool = False,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    credentials: Credentials | None = None,
) -> list[Path]:
    """Render the weight shift across `sources` (checkpoint files and/or run folders);
    `credentials` sign the outputs (C2PA)."""
    at, psi = _audio_clock(s)
    validate(s)
    paths, run = find_checkpoints(sources)
    stops = read_stops(paths)
    ks = knots(stops, s.timing)
    blender = WeightBlender(stops, device)
    G = blender.G
    _check_class(G, s)
    _check_out(out, s, G.img_resolution, force or resume)
    if (s.trunc != 1 or s.audio_trunc not in (None, 1)) and not hasattr(G.mapping, "w_avg"):
        raise ConfigError(f"{paths[0].name} stores no average w, so it cannot truncate (--trunc)")
    seeds = s.seed_list()[: s.faces]
    z_keys = keyframe_z(seeds, s.faces, s.keyframes if s.walk else 1, G.z_dim)
    walk = LatentWalk(z_keys, loop=s.loop, interp=s.interp, easing=s.easing)
    n = s.frames

    def frames(start: int, stop: int) -> Iterator[FrameSource]:
        for i in range(start, stop):
            u = ease(there_and_back(at[i], n, s.loop), s.easing)
            if s.layers == "together":
                blender.set(*locate(u, ks))  # G's tensors, blended in place
            else:  # each block at its own point along the path
                per_block = stagger(u, G.synthesis.block_resolutions, s.layers)
                blender.set_blocks({r: locate(v, ks) for r, v in per_block.items()})
            z = walk.at(at[i], n)
            imgs = _deferred(
                lambda zz, p=psi(i): synthesize(
                    G,
                    z=zz,
                    class_idx=s.class_idx,
                    truncation_psi=p,
                    truncation_cutoff=s.trunc_cutoff,
                    noise_mode=s.noise_mode,
                    deferred=True,
                ),
                z,
                s.batch,
            )
            yield lambda imgs=imgs: compose(imgs(), s)

    ckpts = [provenance.checkpoint_entry(st.path, st.extra) for st in stops]
    dataset_sha = provenance.dataset_manifest_sha256(run, [st.extra for st in stops])
    command = {"command": "render shift", "sources": [str(x) for x in sources], **_audio_entry(s)}
    if changes := provenance.dataset_changes(run):  # the frames span more than one dataset
        command["dataset_changes"] = changes
    return _render(
        out,
        s,
        frames,
        n,
        G.img_resolution,
        ckpts,
        dataset_sha,
        command,
        resume=resume,
        force=force,
        shard=shard,
        progress=progress,
        credentials=credentials,
    )


def walk(
    checkpoint: str | Path,
    out: Path,
    s: RenderSettings,
    device: torch.device,
    *,
    resume: bool = False,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    credentials: Credentials | None = None,
) -> list[Path]:
    """Render a latent walk of `checkpoint`: keyframes per face, noise held fixed;
    `credentials` sign the outputs (C2PA)."""
    import numpy as np
    import torch

    from zizi.io.checkpoint import build_generator, load_checkpoint

    at, psi = _audio_clock(s)
    validate(s)
    path = Path(checkpoint)
    if path.is_dir():
        raise ZiziError(
            f"{path} is a folder; `render walk` takes one checkpoint file "
            "(a run's frames/ or latest.safetensors)"
        )
    ck = load_checkpoint(path, nets=["G_ema"])
    G = build_generator(ck, "G_ema").to(device)
    _check_class(G, s)
    _check_out(out, s, G.img_resolution, force or resume)
    if s.trunc != 1 and not hasattr(G.mapping, "w_avg"):
        raise ConfigError(f"{path.name} stores no average w, so it cannot truncate (--trunc)")
    seeds = s.seed_list()
    latents = latent_keys.load(s.keyframe_latents or [], G)  # the first keys of every face
    seed_keys = max(s.keyframes - len(latents), 0) if latents else s.keyframes
    z_keys = keyframe_z(seeds, s.faces, max(seed_keys, 1), G.z_dim)  # [F, K, z_dim]
    F, K = s.faces, seed_keys
    z_keys = z_keys[:, :K]
    ckpts = [provenance.checkpoint_entry(path, ck.extra)]
    path_: LatentWalk | Any
    key_noise = None
    if s.directions:
        path_ = _direction_walk(G, path, z_keys[:, 0], s, device, ckpts)
    else:
        keys = z_keys.to(device)
        if s.space == "w":
            from zizi.render.batches import one_hot

            keys = torch.zeros(F, 0, G.num_ws, G.w_dim, device=device)
            if K:
                with torch.no_grad():
                    zz = z_keys.reshape(F * K, -1).to(device)
                    ws = G.mapping(
                        zz, one_hot(F * K, G.c_dim, s.class_idx, device), s.trunc, s.trunc_cutoff
                    )
                keys = ws.reshape(F, K, G.num_ws, G.w_dim)
            if latents:  # [F, L + K, num_ws, w_dim]: the latents (untruncated, as projected)
                fixed = torch.cat([lat.ws for lat in latents]).to(device)  # [L, num_ws, w_dim]
                keys = torch.cat([fixed.expand(F, *fixed.shape), keys], dim=1)
                key_noise = KeyNoise.of(G, latents, F, K)
                if s.noise_mode != "const" or not key_noise.used:
                    key_noise = None  # fitted maps are the latents' "const" noise only
        path_ = LatentWalk(keys, loop=s.loop, interp=s.interp, easing=s.easing)
    in_w = s.space == "w" or bool(s.directions)
    n = s.frames
    per_pass = max(1, s.batch // F) if s.batch >= F and s.audio_trunc is None else 1
    frame_psi = [s.trunc]

    def render_latents(lat: torch.Tensor) -> np.ndarray:
        kw = {"ws": lat} if in_w else {"z": lat}
        return synthesize(
            G,
            class_idx=s.class_idx,
            truncation_psi=frame_psi[0],
            truncation_cutoff=s.trunc_cutoff,
            noise_mode=s.noise_mode,
            deferred=True,
            **kw,
        )

    def frames(start: int, stop: int) -> Iterator[FrameSource]:
        if key_noise is not None:  # each face with its own noise maps: one face per pass
            yield from _frames_with_key_noise(start, stop)
            return
        for i0 in range(start, stop, per_pass):
            idx = list(range(i0, min(i0 + per_pass, stop)))
            lat = torch.cat([path_.at(at[i], n) for i in idx])  # [len(idx) * F, ...]
            frame_psi[0] = psi(i0)  # one frame per pass when the sound sets truncation
            imgs = _deferred(render_latents, lat, max(s.batch, 1))
            for j in range(len(idx)):
                yield lambda imgs=imgs, j=j: compose(imgs()[j * F : (j + 1) * F], s)

    def _frames_with_key_noise(start: int, stop: int) -> Iterator[FrameSource]:
        assert key_noise is not None
        try:
            for i in range(start, stop):
                lat = path_.at(at[i], n)  # [F, num_ws, w_dim]
                a, b, t = path_.span(at[i], n)
                parts = []
                for f in range(F):  # queued in order, so each face sees its own maps
                    key_noise.set(f, a, b, t)
                    parts.append(render_latents(lat[f : f + 1]))
                yield lambda parts=parts: compose(np.concatenate([p.numpy() for p in parts]), s)
        finally:
            key_noise.restore()

    dataset_sha = provenance.dataset_manifest_sha256(None, [ck.extra])
    command = {"command": "render walk", "sources": [str(path)], **_audio_entry(s)}
    if s.keyframe_latents:
        command["keyframe_latents"] = latent_keys.entries(latents)
    return _render(
        out,
        s,
        frames,
        n,
        G.img_resolution,
        ckpts,
        dataset_sha,
        command,
        resume=resume,
        force=force,
        shard=shard,
        progress=progress,
        credentials=credentials,
    )


def mix(
    checkpoint: str | Path,
    out: Path,
    s: RenderSettings,
    device: torch.device,
    *,
    resume: bool = False,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    credentials: Credentials | None = None,
) -> list[Path]:
    """Render style mixing over time: `zizi generate --mix-*`'s grid whose row faces and/or
    column faces walk (in W, through `--keyframes` keys from their seeds), every mixed cell
    taking the ws in `s.mix_styles` from its column face at that frame; `credentials` sign
    the outputs (C2PA)."""
    import numpy as np
    import torch

    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.render.batches import one_hot
    from zizi.render.mixing import check_styles, grid_ws

    at, _psi = _audio_clock(s)
    validate(s)
    if not s.mix_rows or not s.mix_cols or not s.mix_styles:
        raise ConfigError("`render mix` needs --mix-rows, --mix-cols and --mix-styles")
    path = Path(checkpoint)
    if path.is_dir():
        raise ZiziError(f"{path} is a folder; `render mix` takes one checkpoint file")
    ck = load_checkpoint(path, nets=["G_ema"])
    G = build_generator(ck, "G_ema").to(device)
    check_styles(s.mix_styles, G.num_ws)
    _check_class(G, s)
    _check_out(out, s, G.img_resolution, force or resume)
    if s.trunc != 1 and not hasattr(G.mapping, "w_avg"):
        raise ConfigError(f"{path.name} stores no average w, so it cannot truncate (--trunc)")

    def walk_of(seeds: list[int], walking: bool) -> LatentWalk:
        K = s.keyframes if walking else 1
        z = keyframe_z(seeds, len(seeds), K, G.z_dim).reshape(len(seeds) * K, -1).to(device)
        with torch.no_grad():
            ws = G.mapping(
                z, one_hot(len(z), G.c_dim, s.class_idx, device), s.trunc, s.trunc_cutoff
            )
        return LatentWalk(
            ws.reshape(len(seeds), K, G.num_ws, G.w_dim),
            loop=s.loop,
            interp=s.interp,
            easing=s.easing,
        )

    rows = walk_of(s.mix_rows, s.mix_walk in ("rows", "both"))
    cols = walk_of(s.mix_cols, s.mix_walk in ("cols", "both"))
    n = s.frames

    def render_ws(ws: torch.Tensor):
        return synthesize(G, ws=ws, noise_mode=s.noise_mode, deferred=True)

    def frames(start: int, stop: int) -> Iterator[FrameSource]:
        for i in range(start, stop):
            ws = grid_ws(rows.at(at[i], n), cols.at(at[i], n), s.mix_styles, sources=s.mix_sources)
            imgs = _deferred(render_ws, ws, max(s.batch, 1))

            def frame(imgs=imgs) -> list[np.ndarray]:
                faces = imgs()
                if s.mix_sources:  # the blank top-left corner, as in generate's grid
                    faces = np.concatenate([np.zeros_like(faces[:1]), faces])
                return compose(faces, s)

            yield frame

    ckpts = [provenance.checkpoint_entry(path, ck.extra)]
    dataset_sha = provenance.dataset_manifest_sha256(None, [ck.extra])
    command = {"command": "render mix", "sources": [str(path)], **_audio_entry(s)}
    return _render(
        out,
        s,
        frames,
        n,
        G.img_resolution,
        ckpts,
        dataset_sha,
        command,
        resume=resume,
        force=force,
        shard=shard,
        progress=progress,
        credentials=credentials,
    )


def _direction_walk(
    G,
    path: Path,
    z: torch.Tensor,
    s: RenderSettings,
    device: torch.device,
    ckpts: list[dict[str, Any]],
):
    """The walk along --direction(s): column c of every row follows direction c."""
    import torch

    from zizi.render.batches import one_hot
    from zizi.render.directions import (
        DirectionWalk,
        directions_of,
        fitted_shift,
        load_directions,
        parse_direction,
        shift_direction,
    )

    wanted = [parse_direction(d) for d in s.directions or []]
    sefa = None
    if any(d != "shift" for d in wanted):
        if s.directions_file:
            sefa = load_directions(s.directions_file)
            ckpts.append(provenance.checkpoint_entry(s.directions_file))
        else:
            sefa = directions_of(path, s.sefa_layers)
        if sefa.vectors.shape[1] != G.w_dim:
            raise ConfigError(
                f"the directions are {sefa.vectors.shape[1]}-dimensional but "
                f"{path.name} has w_dim {G.w_dim}; factorise this checkpoint"
            )
        top = max(d for d in wanted if d != "shift")
        if top >= len(sefa.vectors):
            raise ConfigError(
                f"--direction {top}: there are {len(sefa.vectors)} directions "
                f"(0-{len(sefa.vectors) - 1})"
            )
    shift = None
    if "shift" in wanted:
        stored = load_directions(s.directions_file) if s.directions_file else None
        if stored is not None and stored.shift is not None and s.shift_estimate == "fit":
            shift = stored.shift  # measured once by `zizi directions --toward`
            if not any(c["file"] == Path(s.directions_file).name for c in ckpts):
                ckpts.append(provenance.checkpoint_entry(s.directions_file))
        elif not s.toward:
            raise ConfigError(
                "--direction shift needs --toward FINETUNED.safetensors (the "
                "checkpoint the base was fine-tuned into), or a --directions file "
                "made with `zizi directions BASE --toward FINETUNED`"
            )
        else:
            shift = (
                fitted_shift(path, s.toward, device)
                if s.shift_estimate == "fit"
                else shift_direction(path, s.toward)
            )
            ckpts.append(provenance.checkpoint_entry(s.toward))
        if shift.shape != (G.w_dim,):
            raise ConfigError(
                f"the shift has {shift.numel()} numbers; {path.name} has w_dim {G.w_dim}"
            )
    num_ws, cols = G.num_ws, len(wanted)
    steps = torch.zeros(len(z), num_ws, G.w_dim)
    for f in range(len(z)):
        d = wanted[f % cols]
        if d == "shift":
            steps[f] = shift
        else:
            steps[f, sefa.ws] = sefa.vectors[d]
    with torch.no_grad():
        w0 = G.mapping(
            z.to(device), one_hot(len(z), G.c_dim, s.class_idx, device), s.trunc, s.trunc_cutoff
        )
    return DirectionWalk(
        w0,
        steps.to(device),
        [wanted[f % cols] != "shift" for f in range(len(z))],
        s.amount,
        loop=s.loop,
        easing=s.easing,
    )


def _render(
    out: Path,
    s: RenderSettings,
    frames: Callable[[int, int], Iterator[FrameSource]],
    n: int,
    resolution: int,
    ckpts: list[dict],
    dataset_sha: str | None,
    command: dict,
    *,
    resume: bool,
    force: bool,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None,
    credentials: Credentials | None = None,
) -> list[Path]:
    """Encode `n` frames into `out` (video or PNG sequence) with provenance; the shared tail
    of every scene. A shard renders its segments and returns [] (nothing is joined yet)."""
    outputs = _outputs(
        out,
        s,
        "video" if output_kind(out) != "png" else "image sequence",
        ckpts,
        dataset_sha,
        command,
    )
    finish_video = None
    if s.audio and output_kind(out) != "png":
        from zizi.render.audio import mux

        def finish_video(tmp: Path, o: job.Output) -> None:  # the sound, before signing
            mux(tmp, s.audio, n / s.fps, job.embedded(o)[0], container=output_kind(o.path))

    finished = job.run(
        outputs,
        frames,
        count=n,
        fps=s.fps,
        size=frame_size(s, resolution),
        plan=_plan(s, command, ckpts),
        segment_frames=s.segment_frames,
        resume=resume,
        force=force,
        shard=shard,
        progress=progress,
        credentials=credentials,
        encoder=s.encoder,
        preset=s.preset,
        finish_video=finish_video,
    )
    if not finished:
        return []
    return _finish(outputs, s, out)


def _audio_clock(s: RenderSettings) -> tuple[list[float] | range, Callable[[int], float]]:
    """Each frame's place on an even-paced clock (the frame index itself, or with --audio a
    clock the track's loudness and onsets speed up and slow down) and its truncation psi
    (--trunc, or with --audio-trunc from --trunc in silence to that at the loudest). Sets
    `s.frames` from the track's length when it is 0."""
    if not s.audio:
        return range(s.frames), lambda i: s.trunc
    from zizi.render.audio import analyse, clock

    env = analyse(s.audio, s.fps, s.frames or None)
    if s.frames == 0:
        s.frames = len(env.loudness)
    lo, hi = s.trunc, s.trunc if s.audio_trunc is None else s.audio_trunc
    return clock(env.speeds(), s.loop), lambda i: lo + (hi - lo) * env.loudness[i]


def _audio_entry(s: RenderSettings) -> dict[str, Any]:
    if not s.audio:
        return {}
    return {"audio": provenance.checkpoint_entry(s.audio)}


def _check_class(G, s: RenderSettings) -> None:
    if G.c_dim > 0 and s.class_idx is None:
        raise ConfigError(f"the checkpoint is conditional ({G.c_dim} classes): pass --class N")
    if s.class_idx is not None and (G.c_dim == 0 or s.class_idx >= G.c_dim):
        raise ConfigError(
            "--class does not fit this checkpoint "
            f"({'no classes' if G.c_dim == 0 else f'classes 0-{G.c_dim - 1}'})"
        )


def _finish(outputs: list[job.Output], s: RenderSettings, out: Path) -> list[Path]:
    paths = [o.path for o in outputs]
    if s.channels > 1 and output_kind(out) == "mp4":
        paths.append(job.write_wall([o.path for o in outputs], s.fps, provenance.STATEMENT))
    return paths
