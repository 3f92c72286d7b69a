"""`zizi mirror`: your reflection through the normative and the shifted network."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import (
    UNSIGNED_HINT,
    credentials_option,
    device_option,
    overwrite_option,
    progress_bar,
    signing_credentials,
)


@click.command("mirror")
@click.argument("photo", type=click.Path(path_type=Path))
@click.option("--ckpt", "ckpt", type=click.Path(path_type=Path), required=True,
              help="The base (normative) face model, a zizi checkpoint.")
@click.option("--shifted", type=click.Path(path_type=Path), required=True,
              help="The shifted model: a checkpoint, or a run folder (its newest frame).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the renders: mirror.png (base | shifted), mirror.mp4 with --video.")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Optimisation steps of the projection.")
@click.option("--space", type=click.Choice(["w", "w+"]), default="w", show_default=True,
              help="w: one latent for all layers (closer to what the model draws); "
                   "w+: one per layer (closer to the photo).")
@click.option("--align", type=click.Choice(["face", "center"]), default="face", show_default=True,
              help="face: FFHQ alignment like `zizi dataset prepare --align face` (needs "
                   "zizi[faces]); center: the centred square, for models that do not draw faces.")
@click.option("--video", is_flag=True,
              help="Also render the reflection through every frame between base and shifted "
                   "(a run folder's frames) as mirror.mp4.")
@click.option("--frames", type=click.IntRange(min=2), default=120, show_default=True,
              help="Length of the --video clip in frames (30 per second).")
@click.option("--size", type=click.IntRange(min=8, max=4096), default=None,
              help="Side of each face in mirror.png in pixels (Lanczos) [default: the model's "
                   "resolution; a 32² model's faces are tiny without it].")
@click.option("--keep-latent", is_flag=True,
              help="Also write the projected latent (latent.safetensors). Off by default.")
@click.option("--perceptual", type=click.Path(path_type=Path), multiple=True,
              help="Local VGG16 weights (a state dict, torchvision key names; repeat the option "
                   "to add LPIPS's lin weights file) for an LPIPS loss; "
                   "never downloaded. Without it the loss uses the base model's own "
                   "discriminator plus pixel and multi-scale SSIM terms.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the search: the same photo and seed give the same reflection.")
@credentials_option
@overwrite_option
@device_option
def mirror(photo: Path, ckpt: Path, shifted: Path, out: Path, steps: int, space: str, align: str,
           video: bool, frames: int, size: int | None, keep_latent: bool, perceptual: tuple[Path, ...], seed: int,
           credentials: Path | None, force: bool, device: str) -> None:
    """Find the face in PHOTO in the base model's latent space and show how the base model
    and the shifted model each draw it back, side by side (after Narcissus).

    \b
    Privacy: the photo, the aligned crop of your face and the latent found for it are
    kept in memory only and are gone when the command ends. Only the rendered
    reflections are written to --out. Nothing is uploaded. --keep-latent also writes the
    latent; the photo and the crop are never written.
    """
    from zizi.mirror.project import ProjectConfig
    from zizi.mirror.reflect import MirrorConfig
    from zizi.mirror.reflect import mirror as run_mirror
    from zizi.runtime import select_device

    creds = signing_credentials(credentials)  # unusable keys fail before minutes of projection
    cfg = MirrorConfig(project=ProjectConfig(steps=steps, space=space, seed=seed), align=align,
                       video=video, frames=frames, keep_latent=keep_latent, size=size)
    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            unit = "step" if stage == "project" else "frame"
            bar = bars[stage] = progress_bar(total=total, desc=stage, unit=unit, leave=False)
        bar.update(done - bar.n)

    try:
        written = run_mirror(photo, ckpt, shifted, out, cfg, select_device(device),
                             perceptual=list(perceptual), force=force, progress=progress,
                             credentials=creds)
    finally:
        for bar in bars.values():
            bar.close()
    from zizi.text import printable

    for p in written:
        click.echo(printable(str(p)))
    if creds is None:
        click.echo(UNSIGNED_HINT, err=True)
