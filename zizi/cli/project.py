"""`zizi project`: find a photo's face in a model's latent space and keep only the latent."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import (
    checkpoint_option,
    device_option,
    overwrite_option,
    photo_align_option,
    progress_bar,
)


@click.command("project")
@click.argument("photo", type=click.Path(path_type=Path))
@checkpoint_option(
    "The model to project into: a zizi checkpoint, or a run folder (its newest snapshot)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The latent file to write (.safetensors): ws and the fitted noise maps.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Optimisation steps of the projection.",
)
@click.option(
    "--space",
    type=click.Choice(["w", "w+"]),
    default="w",
    show_default=True,
    help="w: one latent for all layers (closer to what the model draws); "
    "w+: one per layer (closer to the photo).",
)
@photo_align_option
@click.option(
    "--perceptual",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Local VGG16 weights for an LPIPS loss, as for `zizi mirror`; without it the "
    "model's own discriminator plus pixel and multi-scale SSIM terms.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the search: the same photo and seed give the same latent.",
)
@click.option(
    "--video",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the search as a video (NAME.mp4, NAME.mov or a folder of PNGs): "
    "the photo's aligned crop beside the projection, one frame per step, like "
    "StyleGAN2-ADA's proj.mp4. Off by default: the video shows the photo.",
)
@click.option(
    "--video-size",
    type=click.IntRange(min=8, max=4096),
    default=None,
    help="With --video: each half's side in pixels (Lanczos, even) [default: the "
    "model's resolution].",
)
@click.option(
    "--fps",
    type=float,
    default=30.0,
    show_default=True,
    help="With --video: frames (steps) per second.",
)
@overwrite_option
@device_option
def project(
    photo: Path,
    ckpt: Path,
    out: Path,
    steps: int,
    space: str,
    align: str,
    perceptual: tuple[Path, ...],
    seed: int,
    video: Path | None,
    video_size: int | None,
    fps: float,
    force: bool,
    device: str,
) -> None:
    """Project the face in PHOTO into --checkpoint and write its latent to --out.

    \b
    The latent is what `zizi generate CHECKPOINT --latent FILE` draws (through this model or a
    fine-tune of it), what `zizi render walk --keyframe-latent FILE` walks from, and what
    `zizi mirror --keep-latent` writes. Privacy as in the mirror: the photo and the
    aligned crop of the face stay in memory and are gone when the command ends; the
    latent is the only file written. Only --video writes the crop too (in the video's
    left half), because you asked for that video.
    """
    from zizi.mirror.latent import project_photo
    from zizi.mirror.project import ProjectConfig
    from zizi.runtime import select_device
    from zizi.text import printable

    if video is None and (video_size is not None or fps != 30.0):
        raise click.UsageError("--video-size and --fps shape the --video; give --video NAME.mp4")
    if not fps > 0 or fps == float("inf"):
        raise click.BadParameter(f"{fps:g} is not a frame rate; use e.g. 30", param_hint="--fps")
    cfg = ProjectConfig(steps=steps, space=space, seed=seed)
    with progress_bar(total=steps, desc="project", unit="step", leave=False) as bar:
        written = project_photo(
            photo,
            ckpt,
            out,
            cfg,
            select_device(device),
            align=align,
            perceptual=list(perceptual),
            force=force,
            progress=lambda done, total: bar.update(done - bar.n),
            video=video,
            video_size=video_size,
            video_fps=fps,
        )
    kept = (
        "the photo and its crop were not kept"
        if video is None
        else f"the photo was not kept; its crop is in {printable(str(written[1]))}, as asked"
    )
    click.echo(f"{printable(str(written[0]))} ({space}; {kept})")
