"""`zizi blend`: layer swapping, the coarse blocks of one checkpoint and the fine of another."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import CHECKPOINT, check_output, overwrite_option


@click.command("blend")
@click.argument("a", type=CHECKPOINT)
@click.argument("b", type=CHECKPOINT)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output .safetensors path.",
)
@click.option(
    "--swap-res",
    type=click.IntRange(min=4),
    required=True,
    help="Blocks up to this resolution (and the mapping) come from A, above it from B.",
)
@click.option(
    "--width",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="0: a hard cut; >0: a smooth per-block crossover this many blocks wide.",
)
@overwrite_option
def blend(a: Path, b: Path, out: Path, swap_res: int, width: float, force: bool) -> None:
    """Blend A and B: A's mapping and coarse blocks, B's fine blocks (and B's D).

    With A the base model and B the fine-tune, the faces keep the base's pose and shape
    and take the new data's colour and texture (toonify-style layer swapping).
    """
    from zizi.files import output_lock
    from zizi.render.blend import blend_files

    check_output(out, a, force)
    check_output(out, b, force)
    with output_lock(out):
        check_output(out, a, force)
        blend_files(a, b, out, swap_res, width, overwrite=force)
    how = "a hard cut" if width == 0 else f"a crossover {width:g} blocks wide"
    click.echo(
        f"Blended {a.name} (mapping, blocks <= {swap_res}) with {b.name} (above), {how} -> {out}"
    )
