"""`zizi resize`: resolution surgery, a lower-resolution checkpoint from a higher one."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import CHECKPOINT, check_output, overwrite_option


@click.command("resize")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option(
    "--resolution",
    type=click.Choice(["8", "16", "32", "64", "128", "256", "512"]),
    required=True,
    help="Target resolution (lower than the checkpoint's).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output .safetensors path.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the discriminator's fresh fromrgb layer.",
)
@overwrite_option
def resize(checkpoint: Path, resolution: str, out: Path, seed: int, force: bool) -> None:
    """Make a lower-resolution copy of CHECKPOINT for small GPUs.

    The generator keeps its blocks up to --resolution and so draws the same faces with
    less fine detail; the discriminator keeps its lower blocks and gets a fresh fromrgb
    layer, which it relearns in the first kimg of a fine-tune.
    """
    from zizi.files import output_lock
    from zizi.io.checkpoint import load_checkpoint, save_checkpoint
    from zizi.io.resize import resize_checkpoint

    check_output(out, checkpoint, force)
    with output_lock(out):  # a second run on the same --out gets one line, not a race
        check_output(out, checkpoint, force)
        ckpt = load_checkpoint(checkpoint)
        src = ckpt.g_config.img_resolution
        if int(resolution) == src:
            raise click.UsageError(f"{checkpoint.name} is already {src}x{src}; nothing to resize")
        small = resize_checkpoint(ckpt, int(resolution), seed=seed)
        save_checkpoint(out, small, overwrite=force)
    from zizi.text import printable

    click.echo(
        f"Resized {printable(checkpoint.name)} from {src}x{src} to "
        f"{resolution}x{resolution} -> {printable(out)}"
    )
