"""`zizi demo`: the whole idea on this machine, with nothing to download."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import click

from zizi.cli.options import (
    UNSIGNED_HINT,
    credentials_option,
    device_option,
    signing_credentials,
)


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("renders/demo"),
    show_default=True,
    help="Folder for everything the demo makes (a re-run replaces it).",
)
@click.option(
    "--quick", is_flag=True, help="The same stages, much smaller: about a minute (for tests)."
)
@click.option(
    "--train-base",
    is_flag=True,
    help="Train the base model here instead of using the shipped one (≈ 1 h or more "
    "on a busy 2-core CPU; the default on a GPU). "
    "This is how zizi/demo/base-32.safetensors is made.",
)
@click.option("--verbose", is_flag=True, help="Show the output of each zizi command the demo runs.")
@credentials_option
@device_option
def demo(
    out: Path, quick: bool, train_base: bool, verbose: bool, credentials: Path | None, device: str
) -> None:
    """Draw two portrait sets, fine-tune a face model from one to the other, film the shift.

    \b
    1. data       a plain "base" set and a "shift" set in drag (wigs, make-up, glitter),
                  drawn procedurally and prepared with `zizi dataset prepare`
    2. base       a small 32² StyleGAN2 face model (shipped; trained here on a GPU)
    3. fine-tune  `zizi train --resume BASE` on the shift set, a light frame every few steps
    4. video      `zizi render shift RUN --loop`: the weights sliding from base to shifted
    5. report     where everything is, time per stage, and how far the samples moved
                  towards the shift set (sliced Wasserstein distance)

    About 5–10 minutes on a 2-core CPU; --quick about a minute.
    """
    import dataclasses

    from zizi.cli import cli
    from zizi.demo.pipeline import BASE_RECIPE, plan_for, run_demo
    from zizi.runtime import select_device

    dev = select_device(device)
    creds = signing_credentials(credentials)
    plan = plan_for(quick, dev.type)
    if train_base and not plan.train_base:
        # the recipe of the shipped base checkpoint (quick: the same stages, tiny lengths)
        plan = dataclasses.replace(plan, train_base=True, **({} if quick else BASE_RECIPE))

    def runner(args: list[str]) -> None:
        # Each stage is a real zizi command, run in this process. Its own output is kept
        # quiet unless --verbose (the demo prints one line per stage instead), except the
        # trainer's progress (a bar on a terminal, else a line per tick): the fine-tune is
        # the longest stage. On an error the captured output is shown with the error.
        if credentials is not None and args[0] in ("generate", "render"):
            args = [*args, "--credentials", str(credentials)]  # the stages sign like the demo
        buf = io.StringIO()
        sink = contextlib.nullcontext() if verbose else _redirect(buf, stderr=args[0] != "train")
        try:
            with sink:
                cli.main(args, prog_name="zizi", standalone_mode=False)
        except click.ClickException as e:
            if buf.getvalue():
                click.echo(buf.getvalue().rstrip(), err=True)
            raise click.ClickException(
                f"`zizi {' '.join(args[:2])}` failed: {e.format_message()}"
            ) from e

    report = run_demo(
        out,
        plan,
        runner,
        device=device,
        note=lambda text: click.echo(text, err=True),
        credentials=creds,
    )
    for line in report.lines():
        click.echo(line)
    if creds is None:
        click.echo(UNSIGNED_HINT, err=True)


@contextlib.contextmanager
def _redirect(buf: io.StringIO, stderr: bool = True):
    """Capture stdout (and stderr, unless `stderr` is False) into `buf`."""
    with contextlib.redirect_stdout(buf):
        old = sys.stderr
        if stderr:
            sys.stderr = buf
        try:
            yield
        finally:
            sys.stderr = old
