"""`zizi export`: write a zizi checkpoint in another tool's format."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import CHECKPOINT, check_output, overwrite_option, which_option


@click.command("export")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["rosinality"]),
    default="rosinality",
    show_default=True,
    help="rosinality: the stylegan2-pytorch .pt read by pSp, e4e, ReStyle and friends.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file (.pt).",
)
@which_option("G_ema", "Generator written as g_ema (the one encoders and editors use).")
@overwrite_option
def export(checkpoint: Path, fmt: str, out: Path, which: str, force: bool) -> None:
    """Export CHECKPOINT (a zizi .safetensors) to --format, e.g. for encoder tools.

    The rosinality file holds g_ema and latent_avg (what pSp/e4e load), plus g, d and
    ada_aug_p when the checkpoint has them. Values are copied bit for bit.
    """
    from zizi.files import output_lock
    from zizi.io.checkpoint import load_checkpoint
    from zizi.io.rosinality import rosinality_incompatibilities, save_rosinality
    from zizi.text import printable

    if out.suffix.lower() == ".safetensors":
        # a torch pickle under zizi's extension would fool people and `zizi info` alike
        raise click.BadParameter(
            "a rosinality file is a torch .pt file; use e.g. --out ffhq.pt", param_hint="--out"
        )
    check_output(out, checkpoint, force, suffix=None)
    with output_lock(out):  # a second run on the same --out gets one line, not a race
        check_output(out, checkpoint, force, suffix=None)
        ckpt = load_checkpoint(checkpoint)
        for note in rosinality_incompatibilities(ckpt):
            click.echo(f"warning: {note}", err=True)
        save_rosinality(out, ckpt, which, overwrite=force)
    g = ckpt.g_config
    click.echo(
        f"Exported {printable(checkpoint.name)} ({which}, {g.img_resolution}x{g.img_resolution}) "
        f"as {fmt} -> {printable(out)}"
    )
