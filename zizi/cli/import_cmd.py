"""`zizi import`: read a checkpoint from anywhere into zizi's safetensors format."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import check_output, checkpoints_dir_option, overwrite_option, which_option


@click.command("import")
@click.argument("source")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output .safetensors path [default: <name>.safetensors in --checkpoints-dir].",
)
@which_option(None, "Import only this generator (with D); default: all networks in the file.")
@checkpoints_dir_option()
@click.option(
    "--resolution",
    type=int,
    default=None,
    help="Make a lower-resolution network (drops the top blocks; see `zizi resize --help`).",
)
@overwrite_option
def import_cmd(
    source: str,
    out: Path | None,
    which: str | None,
    checkpoints_dir: Path,
    resolution: int | None,
    force: bool,
) -> None:
    """Import SOURCE: a checkpoint file, or a well-known name such as ffhq-256, ffhq-1024
    or metfaces-1024 (downloaded; `zizi checkpoints` lists them all).

    \b
    Reads, by content (not by file name):
      - NVIDIA PyTorch pickles (.pkl of stylegan2-ada-pytorch and stylegan3)
      - NVIDIA TensorFlow pickles (.pkl of the original 2019 stylegan2)
      - rosinality stylegan2-pytorch files (.pt, as used by pSp, e4e, ReStyle)
      - zizi .safetensors (re-saved, e.g. with --resolution)

    No code in the file is executed: only tensors and plain settings are accepted, and
    anything else is refused by name. The architecture is read from the checkpoint itself.
    """
    from zizi.files import output_lock
    from zizi.io.checkpoint import save_checkpoint
    from zizi.io.importers import import_checkpoint
    from zizi.io.known import resolve

    src = resolve(source, checkpoints_dir, progress=True)
    if out is None:
        out = checkpoints_dir / f"{src.path.stem}.safetensors"
    check_output(out, src.path, force)

    with output_lock(out):  # a second run on the same --out gets one line, not a race
        check_output(out, src.path, force)
        ckpt = import_checkpoint(src.path, which=which, sha256=src.sha256)
        if resolution is not None and resolution != ckpt.g_config.img_resolution:
            from zizi.io.resize import resize_checkpoint

            ckpt = resize_checkpoint(ckpt, resolution)
        if src.name:
            ckpt.provenance.update(known_name=src.name, source_url=src.url)
        save_checkpoint(out, ckpt, overwrite=force)
    g = ckpt.g_config
    from zizi.text import printable

    click.echo(
        f"Imported {printable(src.path.name)} ({ckpt.provenance.get('importer')}): "
        f"{g.img_resolution}x{g.img_resolution}, nets {', '.join(ckpt.nets)} -> "
        f"{printable(out)}"
    )
