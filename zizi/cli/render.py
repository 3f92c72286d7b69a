"""`zizi render`: the exhibition video (weight shift across training, latent walks)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from zizi.cli.options import (
    CHECKPOINT,
    UNSIGNED_HINT,
    class_option,
    credentials_option,
    device_option,
    mix_options,
    noise_mode_option,
    overwrite_option,
    seeds_option,
    signing_credentials,
    trunc_cutoff_option,
    trunc_option,
)
from zizi.render.encode import MP4_ENCODERS

# What one render may ask for: each far past an exhibition's needs, each keeping a typo
# (`--frames 1000000000000`) from taking the machine's memory before a frame is made.
MAX_FRAMES = 10_000_000  # 92 hours at 30 fps; the timeline holds a few numbers per frame
MAX_SIZE = 8192  # pixels per face side
MAX_FACES = 1024  # faces per frame (--grid): each is a generator pass per frame
MAX_FRAME_SIDE = 16384  # pixels per video side (grid × size)
MAX_CHANNELS = 64  # one ffmpeg process each
MAX_KEYFRAMES = 100_000
MAX_LATENTS = 1 << 18  # keyframes × faces × channels: 512 MiB of 512-d latents


def _grid(text: str | None) -> tuple[int, int]:
    if text is None:
        return (1, 1)
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use WxH, e.g. 3x2", param_hint="--grid") from None
    if w < 1 or h < 1:
        raise click.BadParameter("a grid needs at least 1x1", param_hint="--grid")
    if w * h > MAX_FACES:
        raise click.BadParameter(
            f"{text}: {w * h:,} faces per frame; the most is {MAX_FACES:,}", param_hint="--grid"
        )
    return (w, h)


# What `render mix` lays out itself from --mix-rows/--mix-cols, so it does not offer them.
MIX_OWN_LAYOUT = ("--seeds", "--grid", "--channels")


def common(f=None, *, without: tuple[str, ...] = ()):
    """Options the render commands share (applied bottom-up); `without` leaves some out,
    and the command sees them at their defaults."""
    if f is None:
        return lambda g: common(g, without=without)
    opts = [
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            required=True,
            help="NAME.mp4 (H.264), NAME.mov (ProRes 422 HQ) or a folder (PNG sequence).",
        ),
        click.option(
            "--seconds",
            default=None,
            help="Duration: 90s, 135m, 2h, or a frame count [default: 10s].",
        ),
        click.option(
            "--frames", "frame_count", type=int, default=None, help="Duration as a frame count."
        ),
        click.option(
            "--audio",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="A sound track: its loudness and beats set how fast faces move; muxed "
            "into the video; the render lasts as long as the track unless "
            "--seconds/--frames say otherwise.",
        ),
        click.option(
            "--audio-trunc",
            type=float,
            default=None,
            help="With --audio: truncation psi at the loudest moments (--trunc in "
            "silence), e.g. 1.0 with --trunc 0.5: faces grow wilder with the music.",
        ),
        click.option(
            "--fps", type=float, default=30.0, show_default=True, help="Frames per second."
        ),
        seeds_option("one per face [default: 0..faces-1]."),
        click.option("--grid", "grid", default=None, help="Faces per frame as WxH, e.g. 3x2."),
        click.option(
            "--channels",
            type=click.IntRange(min=1, max=MAX_CHANNELS),
            default=1,
            show_default=True,
            help="Synchronised videos with different seeds (NAME-1.mp4 ...), plus index.html.",
        ),
        trunc_option(),
        trunc_cutoff_option,
        noise_mode_option(" (random: the same fresh noise in every frame, so no flicker)"),
        class_option,
        click.option(
            "--easing",
            type=click.Choice(["linear", "smooth"]),
            default="smooth",
            show_default=True,
            help="Speed curve.",
        ),
        click.option(
            "--loop", is_flag=True, help="Seamless loop: the frame after the last is the first."
        ),
        click.option(
            "--size",
            type=click.IntRange(min=1, max=MAX_SIZE),
            default=None,
            help="Face size in pixels in the video [default: the network's resolution].",
        ),
        click.option(
            "--width",
            type=click.IntRange(min=1, max=MAX_FRAME_SIDE),
            default=None,
            help="Screen width in px (with --height), e.g. 1080x1920 portrait: faces are "
            "arranged to fit and centred, never stretched.",
        ),
        click.option(
            "--height",
            type=click.IntRange(min=1, max=MAX_FRAME_SIDE),
            default=None,
            help="Screen height in px (with --width).",
        ),
        click.option(
            "--segment",
            "segment",
            default="30s",
            show_default=True,
            help="Segment length (the most a crash can lose).",
        ),
        click.option(
            "--batch",
            type=click.IntRange(min=1),
            default=None,
            help="Faces per forward pass [default: 8 on CUDA, 1 on the CPU].",
        ),
        click.option(
            "--encoder",
            type=click.Choice(list(MP4_ENCODERS)),
            default=None,
            help="H.264/HEVC encoder of an .mp4 [default: libx264]; h264_nvenc and "
            "hevc_nvenc encode on an NVIDIA GPU when ffmpeg has them.",
        ),
        click.option(
            "--preset",
            default=None,
            help="The encoder's speed preset: x264 ultrafast..veryslow [default: medium], "
            "NVENC p1..p7 [default: p5].",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue an interrupted render from its last segment; after a sharded "
            "render (no --shard), join the shards' segments.",
        ),
        click.option(
            "--shard",
            default=None,
            help="K/N: render only shard K's segments (K from 0) into the shared work "
            "folder [default: from torchrun's RANK/WORLD_SIZE or a Slurm array].",
        ),
        overwrite_option,
        credentials_option,
        device_option,
    ]
    for o in reversed(opts):
        left = o(lambda: None).__click_params__[0]
        if not set(left.opts) & set(without):
            f = o(f)
    return f


def _settings(kw: dict, **more):
    from zizi.errors import ConfigError
    from zizi.latents import parse_seeds
    from zizi.render.scenes import RenderSettings
    from zizi.render.timeline import parse_duration

    fps = kw["fps"]
    if not fps > 0 or fps == float("inf"):
        raise click.BadParameter(f"{fps:g} is not a frame rate; use e.g. 30", param_hint="--fps")
    try:
        if kw["frame_count"] is not None and kw["seconds"] is not None:
            raise click.UsageError("give --seconds or --frames, not both")
        if kw["frame_count"] is not None:
            if kw["frame_count"] < 1:
                raise ConfigError(f"--frames {kw['frame_count']}: give a positive frame count")
            frames = kw["frame_count"]
        elif kw["audio"] is not None and kw["seconds"] is None:
            frames = 0  # as long as the track
        else:
            frames = parse_duration(kw["seconds"] or "10s", fps)
        if frames > MAX_FRAMES:
            raise ConfigError(
                f"{frames:,} frames; the most one render makes is {MAX_FRAMES:,} "
                f"({MAX_FRAMES / fps / 3600:,.0f} hours at {fps:g} fps)"
            )
        seeds = parse_seeds(kw["seeds"]) if kw["seeds"] is not None else None
        segment = parse_duration(kw["segment"], fps)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    grid = _grid(kw["grid"])
    if kw["grid"] is None and kw["width"] is not None and kw["height"] is not None:
        from zizi.render.layout import auto_grid

        try:
            grid = auto_grid(kw["width"], kw["height"])
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
    if kw["size"] is not None and max(grid) * kw["size"] > MAX_FRAME_SIDE:
        raise click.BadParameter(
            f"a {grid[0]}x{grid[1]} grid of {kw['size']} px faces is "
            f"{grid[0] * kw['size']}×{grid[1] * kw['size']} px; the most is "
            f"{MAX_FRAME_SIDE} px a side",
            param_hint="--grid/--size",
        )
    latents = more.get("keyframes", 1) * grid[0] * grid[1] * kw["channels"]
    if latents > MAX_LATENTS:
        raise click.BadParameter(
            f"{more.get('keyframes', 1):,} keyframes × {grid[0] * grid[1]} "
            f"faces × {kw['channels']} channels = {latents:,} latents; the "
            f"most is {MAX_LATENTS:,}",
            param_hint="--keyframes",
        )
    return RenderSettings(
        frames=frames,
        fps=fps,
        seeds=seeds,
        grid=grid,
        channels=kw["channels"],
        trunc=kw["trunc"],
        trunc_cutoff=kw["trunc_cutoff"],
        noise_mode=kw["noise_mode"],
        class_idx=kw["class_idx"],
        easing=kw["easing"],
        loop=kw["loop"],
        size=kw["size"],
        width=kw["width"],
        height=kw["height"],
        segment_frames=segment,
        audio=str(kw["audio"]) if kw["audio"] is not None else None,
        audio_trunc=kw["audio_trunc"],
        encoder=kw["encoder"],
        preset=kw["preset"],
        **more,
    )


def _go(fn, source, kw: dict, settings) -> None:
    from zizi.cli.options import progress_bar
    from zizi.errors import ConfigError
    from zizi.render.shards import parse_shard, shard_from_env
    from zizi.runtime import deterministic_kernels, select_device

    try:
        shard = parse_shard(kw["shard"]) if kw["shard"] is not None else shard_from_env()
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    device = kw["device"]
    if device == "auto" and shard is not None and os.environ.get("LOCAL_RANK", "").isdigit():
        import torch

        if torch.cuda.is_available():  # torchrun: one process per GPU
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    dev = select_device(device)
    deterministic_kernels(dev)  # a frame's pixels must not depend on which process drew it
    creds = signing_credentials(kw["credentials"])  # unusable keys fail before the render
    settings.batch = kw["batch"] or (8 if dev.type == "cuda" else 1)
    out: Path = kw["out"]
    bar = progress_bar(total=settings.frames, unit="frame", desc="render", dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        written = fn(
            source,
            out,
            settings,
            dev,
            resume=kw["resume"],
            force=kw["force"],
            shard=shard,
            progress=progress,
            credentials=creds,
        )
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    except KeyboardInterrupt:
        bar.close()
        click.echo(
            f"Interrupted; finished segments are kept. Run the same command with --resume "
            f"to continue {out}.",
            err=True,
        )
        raise click.exceptions.Exit(130) from None
    finally:
        bar.close()
    from zizi.text import printable

    if shard is not None:
        click.echo(
            f"Shard {shard[0]}/{shard[1]} done: its segments are in the work folder beside "
            f"{printable(str(out))}. When every shard is done, run the same command with "
            "--resume and without --shard to join them."
        )
        return
    click.echo(
        f"Wrote {settings.frames} frame(s) at {settings.fps:g} fps: "
        + ", ".join(printable(str(p)) for p in written)
    )
    if creds is None:
        click.echo(UNSIGNED_HINT, err=True)


@click.group("render")
def render() -> None:
    """Render video: the weight shift across training, or latent walks."""


@render.command("shift")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--timing",
    type=click.Choice(["even", "kimg"]),
    default="even",
    show_default=True,
    help="Equal time per checkpoint step, or time proportional to images seen.",
)
@click.option("--walk", is_flag=True, help="Faces also drift through latent space.")
@click.option(
    "--layers",
    type=click.Choice(["together", "coarse-first", "fine-first"]),
    default="together",
    show_default=True,
    help="Every block at once, or block by block: coarse-first shows pose and shape "
    "change before colour and texture (fine-first the reverse).",
)
@click.option(
    "--keyframes",
    type=click.IntRange(min=1, max=MAX_KEYFRAMES),
    default=4,
    show_default=True,
    help="With --walk: keyframes per face.",
)
@common
def shift_cmd(sources, timing, walk, layers, keyframes, **kw) -> None:
    """Weight shift: every G_ema tensor slides from checkpoint to checkpoint.

    SOURCES are checkpoint files in order, or a run folder (its frames/, base first).
    """
    from zizi.render.scenes import shift

    if not sources:
        raise click.UsageError("no checkpoints given; pass checkpoint files or a run folder")
    settings = _settings(kw, timing=timing, walk=walk, keyframes=keyframes, layers=layers)
    _go(shift, list(sources), kw, settings)


@render.command("walk")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option(
    "--space",
    type=click.Choice(["z", "w"]),
    default=None,
    help="Interpolate latents z, or styles w after mapping [default: z; w with --keyframe-latent].",
)
@click.option(
    "--interp",
    type=click.Choice(["linear", "slerp", "cubic"]),
    default="slerp",
    show_default=True,
    help="Between keyframes.",
)
@click.option(
    "--keyframes",
    type=click.IntRange(min=1, max=MAX_KEYFRAMES),
    default=4,
    show_default=True,
    help="Keyframes per face (or give that many seeds per face).",
)
@click.option(
    "--direction",
    "directions",
    multiple=True,
    help="Walk along a direction instead: a SeFa number (0 = strongest) or 'shift'; "
    "repeat for a grid, one column per direction.",
)
@click.option(
    "--amount",
    type=float,
    default=3.0,
    show_default=True,
    help="With --direction: how far (SeFa: from -AMOUNT to +AMOUNT; shift: 0 to AMOUNT).",
)
@click.option(
    "--directions",
    "directions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A `zizi directions` file [default: factorise CHECKPOINT now].",
)
@click.option(
    "--sefa-layers",
    default="all",
    show_default=True,
    help="Without --directions: the layers to factorise (all, coarse, b4-b16, ...).",
)
@click.option(
    "--toward",
    type=CHECKPOINT,
    default=None,
    help="With --direction shift: the fine-tuned checkpoint (CHECKPOINT is its base).",
)
@click.option(
    "--shift-estimate",
    type=click.Choice(["fit", "wavg"]),
    default="fit",
    show_default=True,
    help="--direction shift: the W offset that best turns CHECKPOINT's faces into "
    "--toward's (fit), or w_avg(toward) - w_avg(CHECKPOINT) (wavg).",
)
@click.option(
    "--keyframe-latent",
    "keyframe_latents",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A latent from `zizi project` or `mirror --keep-latent` as a keyframe of "
    "every face (repeatable; these come first, in order, then --keyframes' "
    "seed keys). Walks in W; a w+ latent in W+.",
)
@common
def walk_cmd(
    checkpoint,
    space,
    interp,
    keyframes,
    directions,
    amount,
    directions_file,
    sefa_layers,
    toward,
    shift_estimate,
    keyframe_latents,
    **kw,
) -> None:
    """Latent walk through CHECKPOINT: faces drift between keyframes, noise held fixed.

    With --direction, each face instead moves along a direction found without labels
    (`zizi directions`) or towards the fine-tune's data (--direction shift --toward B).
    """
    from zizi.render.scenes import walk

    if directions and kw["grid"] is None:
        kw["grid"] = f"{len(directions)}x1"
    if space is None:
        space = "w" if keyframe_latents else "z"
    settings = _settings(
        kw,
        space=space,
        interp=interp,
        keyframes=keyframes,
        keyframe_latents=[str(p) for p in keyframe_latents] or None,
        directions=list(directions) or None,
        amount=amount,
        directions_file=str(directions_file) if directions_file else None,
        sefa_layers=sefa_layers,
        toward=str(toward) if toward else None,
        shift_estimate=shift_estimate,
    )
    _go(walk, checkpoint, kw, settings)


@render.command("mix")
@click.argument("checkpoint", type=CHECKPOINT)
@mix_options(required=True)
@click.option(
    "--walk",
    "mix_walk",
    type=click.Choice(["rows", "cols", "both"]),
    default="both",
    show_default=True,
    help="Which faces walk; the others stay their seed's face.",
)
@click.option(
    "--keyframes",
    type=click.IntRange(min=1, max=MAX_KEYFRAMES),
    default=4,
    show_default=True,
    help="Keyframes per walking face (the first is its seed).",
)
@click.option(
    "--interp",
    type=click.Choice(["linear", "slerp", "cubic"]),
    default="slerp",
    show_default=True,
    help="Between keyframes (in W).",
)
@click.option(
    "--sources/--no-sources",
    "mix_sources",
    default=True,
    show_default=True,
    help="Show the row and column faces around the mixed cells, as `zizi generate "
    "--mix-rows` does (blank top-left corner), or the mixed cells alone.",
)
@common(without=MIX_OWN_LAYOUT)
def mix_cmd(
    checkpoint, mix_rows, mix_cols, mix_styles, mix_walk, keyframes, interp, mix_sources, **kw
) -> None:
    """Style mixing over time through CHECKPOINT (a file, or a run folder: its newest
    snapshot): `zizi generate --mix-*`'s grid, walking.

    \b
    Each mixed cell is its row face with the ws in --mix-styles from its column face, at
    every frame, while the rows and/or columns walk (--walk): e.g. coarse styles (pose,
    shape) from a walking column against a fixed row's colours. Frame 0 is exactly
    `zizi generate CHECKPOINT --mix-rows ... --mix-cols ... --mix-styles ...`'s grid.png.
    """
    from zizi.errors import ConfigError
    from zizi.latents import parse_seeds
    from zizi.render.scenes import mix

    parsed = {}
    for hint, text in (
        ("--mix-rows", mix_rows),
        ("--mix-cols", mix_cols),
        ("--mix-styles", mix_styles),
    ):
        try:
            parsed[hint] = parse_seeds(text)
        except ConfigError as e:
            raise click.BadParameter(str(e), param_hint=hint) from None
    rows, cols = parsed["--mix-rows"], parsed["--mix-cols"]
    extra = 1 if mix_sources else 0
    kw.update(grid=f"{len(cols) + extra}x{len(rows) + extra}", seeds=None, channels=1)
    settings = _settings(
        kw,
        space="w",
        interp=interp,
        keyframes=keyframes,
        mix_rows=rows,
        mix_cols=cols,
        mix_styles=parsed["--mix-styles"],
        mix_walk=mix_walk,
        mix_sources=mix_sources,
    )
    _go(mix, checkpoint, kw, settings)
