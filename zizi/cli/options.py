"""Option decorators shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

device_option = click.option(
    "--device", default="auto", show_default=True,
    help="auto (CUDA when available), cpu, or cuda[:N].",
)

overwrite_option = click.option("--force", is_flag=True, help="Overwrite --out if it exists.")


def check_output(out: Path, source: Path, force: bool, suffix: str | None = ".safetensors") -> None:
    """Refuse an --out that would overwrite something (without --force) or the source itself."""
    if suffix is not None and out.suffix != suffix:
        raise click.BadParameter(f"the output must end in {suffix}", param_hint="--out")
    if out.is_dir():  # --force replaces a file, never a folder (`--out .`, `--out ~`)
        raise click.BadParameter(f"{out} is a folder; give a file name", param_hint="--out")
    if out.exists() and not force:
        raise click.UsageError(f"{out} already exists; pass --force to overwrite it")
    if out.resolve() == source.resolve():
        raise click.UsageError("--out must differ from the input file")


def progress_bar(**kwargs):
    """The one progress bar of every command: tqdm on stderr, drawn only when stderr is
    a terminal (never into a redirected log or a pipe)."""
    from tqdm import tqdm

    return tqdm(disable=None, **kwargs)


class SpelledChoice(click.Choice):
    """A case-insensitive choice whose help shows the choices as written (`[G_ema|G]`,
    matching the default), not click's lower-cased forms."""

    def __init__(self, choices: list[str]) -> None:
        super().__init__(choices, case_sensitive=False)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return "[" + "|".join(self.choices) + "]"


def which_option(default: str | None, help: str):
    """--which G_ema|G, typed in any case; one spelling in help and default."""
    return click.option("--which", type=SpelledChoice(["G_ema", "G"]), default=default,
                        show_default=default is not None, help=help)
