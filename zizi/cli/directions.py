"""`zizi directions`: unsupervised latent directions of a checkpoint (SeFa)."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import CHECKPOINT, check_output, device_option, overwrite_option


@click.command("directions")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output DIRS.safetensors.",
)
@click.option(
    "--layers",
    default="all",
    show_default=True,
    help="Whose style affines: all, coarse (4-8 px), middle (16-32), fine (64+), "
    "a block (b16), a range (b4-b32), or a comma list.",
)
@click.option(
    "--show",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Print the strongest N singular values.",
)
@click.option(
    "--toward",
    type=CHECKPOINT,
    default=None,
    help="Also measure the shift towards this fine-tune of CHECKPOINT (for "
    "`render walk --direction shift`); stored as `shift`.",
)
@device_option
@overwrite_option
def directions(
    checkpoint: Path,
    out: Path,
    layers: str,
    show: int,
    toward: Path | None,
    device: str,
    force: bool,
) -> None:
    """Find directions in CHECKPOINT's latent space without labels (closed-form, SeFa).

    No classifier is used: the directions are what the network itself varies most. Walk
    along one with `zizi render walk CHECKPOINT --directions DIRS.safetensors --direction 0`.
    """
    from zizi.render.directions import directions_of, fitted_shift, save_directions
    from zizi.render.provenance import checkpoint_entry
    from zizi.runtime import select_device

    check_output(out, checkpoint, force)
    d = directions_of(checkpoint, layers)
    if toward is not None:
        d.shift = fitted_shift(checkpoint, toward, select_device(device))
        d.meta["toward"] = checkpoint_entry(toward)
    save_directions(out, d)
    top = ", ".join(f"{v:.3g}" for v in d.values[:show].tolist())
    if d.shift is not None:
        click.echo(f"shift towards {toward.name}: |offset| {float(d.shift.norm()):.3g} in W")
    click.echo(
        f"{len(d.vectors)} directions of {checkpoint.name} ({', '.join(d.meta['blocks'])}) "
        f"-> {out}" + (f"\nsingular values: {top}" if show else "")
    )
