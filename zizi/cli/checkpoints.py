"""`zizi checkpoints`: list the well-known public checkpoints, or fetch one by name."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import checkpoints_dir_option


@click.command("checkpoints")
@click.option(
    "--fetch", "fetch_name", metavar="NAME", help="Download this checkpoint (no conversion)."
)
@checkpoints_dir_option("--dir")
def checkpoints(fetch_name: str | None, checkpoints_dir: Path) -> None:
    """List well-known checkpoints: name, resolution, size, licence and source URL.

    `zizi import NAME` downloads one into --checkpoints-dir, verifies it and converts it.
    Without network, download the URL elsewhere and drop the file into that folder.
    """
    from zizi.io import known

    if fetch_name is not None:
        got = known.resolve(fetch_name, checkpoints_dir, progress=True)
        verb = "downloaded" if got.downloaded else "already present"
        click.echo(f"{got.path} ({verb}) sha256 {got.sha256}")
        return
    for k in known.KNOWN.values():
        sha = k.sha256 or "not published"
        click.echo(
            f"{k.name:<15} {k.resolution:>4}px  ~{k.approx_mb} MiB  [{k.format}]  {k.description}"
        )
        click.echo(f"{'':<15} url:     {k.url}")
        click.echo(f"{'':<15} file:    {checkpoints_dir}/{k.filename}   sha256: {sha}")
        click.echo(f"{'':<15} licence: {k.licence}")
