"""Option decorators shared by several commands: an option that means the same thing in
two commands is defined once here, so its name, default and choices cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


class RenamedOption(click.Option):
    """An option renamed to match the rest of the CLI: its old spelling (`old`) still
    parses, so scripts and notes keep working, but --help and error messages show only
    the current name."""

    def __init__(self, *args: Any, old: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old = old

    def _shown(self, method, ctx):
        opts, self.opts = self.opts, [o for o in self.opts if o not in self.old]
        try:
            return method(ctx)
        finally:
            self.opts = opts

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        return self._shown(super().get_help_record, ctx)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return self._shown(super().get_error_hint, ctx)


device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when available), cpu, or cuda[:N].",
)

precision_option = click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
    default=None,
    help="dtype of the network's top num_fp16_res blocks: auto (fp16 on CUDA, fp32 on the CPU), "
    "fp32, fp16, or bf16 (A100/H100). Weights stay float32. See docs/gpu.md.",
)

overwrite_option = click.option("--force", is_flag=True, help="Overwrite --out if it exists.")


def checkpoints_dir_option(*old: str):
    """--checkpoints-dir, the folder well-known checkpoints are downloaded to (`zizi import`,
    `zizi checkpoints`); `old` are earlier spellings still accepted."""
    return click.option(
        "--checkpoints-dir",
        *old,
        "checkpoints_dir",
        cls=RenamedOption,
        old=old,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("checkpoints"),
        show_default=True,
        help="Where well-known checkpoints are downloaded to (and where a file fetched by "
        "hand is looked for).",
    )


# How `zizi mirror` and `zizi project` frame the face in a photo (one definition for both).
photo_align_option = click.option(
    "--align",
    type=click.Choice(["face", "center"]),
    default="face",
    show_default=True,
    help="face: FFHQ alignment like `zizi dataset prepare --align face` (needs "
    "zizi[faces]); center: the centred square, for models that do not draw faces.",
)


def checkpoint_option(help: str):
    """--checkpoint MODEL (once --ckpt, still accepted), for commands whose argument is a
    photo; the others take CHECKPOINT as their argument."""
    return click.option(
        "--checkpoint",
        "--ckpt",
        "ckpt",
        cls=RenamedOption,
        old=("--ckpt",),
        type=CHECKPOINT,
        required=True,
        help=help,
    )


# What `zizi generate` and `zizi render` draw: the same latents for the same seeds, through
# one definition of each option (each command adds what its default or range means).


def seeds_option(more: str):
    return click.option(
        "--seeds",
        default=None,
        help=f"Seeds, e.g. 0-7,42 (z = RandomState(seed).randn(z_dim)); {more}",
    )


def trunc_option(more: str = ""):
    return click.option(
        "--trunc",
        "trunc",
        type=float,
        default=1.0,
        show_default=True,
        help="Truncation psi: 1 = no truncation, 0 = the average face" + more + ".",
    )


trunc_cutoff_option = click.option(
    "--trunc-cutoff",
    type=click.IntRange(min=0),
    default=None,
    help="Truncate only the first N ws (coarse styles); default all.",
)


def noise_mode_option(more: str = ""):
    return click.option(
        "--noise-mode",
        type=click.Choice(["const", "random", "none"]),
        default="const",
        show_default=True,
        help="Per-pixel noise: the stored maps, fresh noise, or none" + more + ".",
    )


class_option = click.option(
    "--class",
    "class_idx",
    type=click.IntRange(min=0),
    default=None,
    help="Class index for a conditional checkpoint.",
)


def mix_options(required: bool, rows_more: str = ""):
    """--mix-rows, --mix-cols, --mix-styles: `generate`'s style-mixing grid and `render
    mix`'s grid over time take the same seeds and ws the same way."""
    opts = [
        click.option(
            "--mix-rows",
            default=None,
            required=required,
            help="Style mixing: seeds down the left of the grid (their faces keep the "
            "ws not in --mix-styles), e.g. 85,100,75." + rows_more,
        ),
        click.option(
            "--mix-cols",
            default=None,
            required=required,
            help="Style mixing: seeds along the top (they give the ws in --mix-styles).",
        ),
        click.option(
            "--mix-styles",
            default="0-6",
            show_default=True,
            help="Which ws the column faces give: low indices = pose and shape, high = "
            "colour (a 32² net has 8 ws, 256² 14, 1024² 18).",
        ),
    ]

    def apply(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return apply


def checkpoint_of(path: Path) -> Path:
    """CHECKPOINT as commands take it: a checkpoint file, or a training run folder, which
    stands for its newest complete full snapshot (what `zizi train --resume RUN` continues).

    The run layout, and its confinement, are `zizi.io.runs`'s; this is the one place the
    CLI asks it.
    """
    from zizi.io.runs import is_run_dir, latest_path, list_snapshots

    if not path.is_dir():
        return path
    if not is_run_dir(path):
        raise click.BadParameter(
            f"{path} is a folder but not a zizi run folder (it has no "
            "config.yaml); give a checkpoint file or a run folder"
        )
    latest = latest_path(path)
    if latest.is_file():
        return latest
    snapshots = list_snapshots(path)
    if not snapshots:
        raise click.BadParameter(
            f"the run {path} has no snapshot yet; wait for its first "
            "--snap-kimg, or give a checkpoint file"
        )
    return snapshots[-1][1]


class CheckpointPath(click.ParamType):
    """The type of every CHECKPOINT a command takes: a file, or a run folder resolved by
    `checkpoint_of` when the command line is parsed, so every command reads a run folder
    the same way (a missing file is left to the loader's one-line error)."""

    name = "checkpoint"

    def convert(self, value, param, ctx) -> Path:
        try:
            return checkpoint_of(Path(value))
        except click.BadParameter as e:
            self.fail(e.format_message(), param, ctx)


CHECKPOINT = CheckpointPath()


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
    return click.option(
        "--which",
        type=SpelledChoice(["G_ema", "G"]),
        default=default,
        show_default=default is not None,
        help=help,
    )


credentials_option = click.option(
    "--credentials",
    "credentials",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Sign outputs (C2PA Content Credentials) with DIR/signer.pem and DIR/signer.key "
    "[default: the keys `zizi credentials init` made, when there are any].",
)

UNSIGNED_HINT = (
    "Not signed: outputs carry zizi's unsigned provenance record only; run `zizi "
    "credentials init` once (or pass --credentials DIR) to sign them."
)


def signing_credentials(folder: Path | None):
    """The credentials outputs are signed with (--credentials, else the default keys), or
    None; the caller echoes UNSIGNED_HINT once after writing when it is None."""
    from zizi.credentials.keys import find

    return find(folder)
