"""`zizi project`: find a photo's face in a model's latent space and keep only the latent."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import (
    checkpoint_of,
    checkpoint_option,
    device_option,
    overwrite_option,
    progress_bar,
)


@click.command("project")
@click.argument("photo", type=click.Path(path_type=Path))
@checkpoint_option("The model to project into: a zizi checkpoint, or a run folder (its newest "
                   "snapshot).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The latent file to write (.safetensors): ws and the fitted noise maps.")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Optimisation steps of the projection.")
@click.option("--space", type=click.Choice(["w", "w+"]), default="w", show_default=True,
              help="w: one latent for all layers (closer to what the model draws); "
                   "w+: one per layer (closer to the photo).")
@click.option("--align", type=click.Choice(["face", "center"]), default="face", show_default=True,
              help="face: FFHQ alignment like `zizi dataset prepare --align face` (needs "
                   "zizi[faces]); center: the centred square, for models that do not draw faces.")
@click.option("--perceptual", type=click.Path(path_type=Path), multiple=True,
              help="Local VGG16 weights for an LPIPS loss, as for `zizi mirror`; without it the "
                   "model's own discriminator plus pixel and multi-scale SSIM terms.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the search: the same photo and seed give the same latent.")
@overwrite_option
@device_option
def project(photo: Path, ckpt: Path, out: Path, steps: int, space: str, align: str,
            perceptual: tuple[Path, ...], seed: int, force: bool, device: str) -> None:
    """Project the face in PHOTO into --checkpoint and write its latent to --out.

    \b
    The latent is what `zizi generate CHECKPOINT --latent FILE` draws (through this model or a
    fine-tune of it) and what `zizi mirror --keep-latent` writes. Privacy as in the mirror:
    the photo and the aligned crop of the face stay in memory and are gone when the
    command ends; the latent is the only file written.
    """
    from zizi.mirror.latent import project_photo
    from zizi.mirror.project import ProjectConfig
    from zizi.runtime import select_device
    from zizi.text import printable

    cfg = ProjectConfig(steps=steps, space=space, seed=seed)
    with progress_bar(total=steps, desc="project", unit="step", leave=False) as bar:
        written = project_photo(photo, checkpoint_of(ckpt), out, cfg, select_device(device),
                                align=align, perceptual=list(perceptual), force=force,
                                progress=lambda done, total: bar.update(done - bar.n))
    click.echo(f"{printable(str(written))} ({space}; the photo and its crop were not kept)")
