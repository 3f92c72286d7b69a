"""The `zizi` command: a click group whose sub-commands are imported lazily.

Each command group lives in its own module under `zizi/cli/`; `zizi --help` lists them
without importing torch, so it answers instantly.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from zizi import __version__

# command name -> (module under zizi.cli, attribute, one-line help shown by `zizi --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "import": (
        "import_cmd",
        "import_cmd",
        "Import a checkpoint (NVIDIA, TF, rosinality) into zizi's format.",
    ),
    "info": ("info", "info", "Describe a checkpoint: resolution, dims, parameters, provenance."),
    "generate": ("generate", "generate", "Generate images for seeds from a checkpoint."),
    "export": ("export", "export", "Export a zizi checkpoint to another tool's format."),
    "checkpoints": (
        "checkpoints",
        "checkpoints",
        "List well-known public checkpoints zizi can fetch.",
    ),
    "resize": (
        "resize",
        "resize",
        "Make a lower-resolution checkpoint from a higher one (resolution surgery).",
    ),
    "dataset": ("dataset", "dataset", "Prepare, inspect and curate training image folders."),
    "blend": (
        "blend",
        "blend",
        "Layer swapping: one checkpoint's coarse blocks with another's fine ones.",
    ),
    "directions": (
        "directions",
        "directions",
        "Unsupervised latent directions of a checkpoint (SeFa).",
    ),
    "render": (
        "render",
        "render",
        "Render video: weight shift across training, latent walks, loops.",
    ),
    "demo": (
        "demo",
        "demo",
        "Run the whole idea here: portraits, base model, fine-tune, weight-shift video.",
    ),
    "encoder": (
        "encoder",
        "encoder",
        "Train the learned inverter (image to W+) that makes mirror live.",
    ),
    "mirror": (
        "mirror",
        "mirror",
        "Your reflection through the base and the shifted network (photo not kept).",
    ),
    "project": (
        "project",
        "project",
        "Find a photo's face in a model's latent space; keep only the latent.",
    ),
    "doctor": ("doctor", "doctor", "Check torch, CUDA, custom ops, ffmpeg and extras."),
    "train": (
        "train",
        "train",
        "Train (fine-tune) StyleGAN2 on an image folder; resumable, never loses work.",
    ),
    "metrics": (
        "metrics",
        "metrics",
        "FID, KID, SWD of a checkpoint or run, and a run's weight-shift charts.",
    ),
    "credentials": (
        "credentials",
        "credentials",
        "Content Credentials (C2PA): signing keys; verify a file.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a sub-command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, spec in COMMANDS.items() if _available(spec[0]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None or not _available(spec[0]):
            return None
        module = importlib.import_module(f"zizi.cli.{spec[0]}")
        return getattr(module, spec[1])

    def invoke(self, ctx: click.Context):
        # Library errors are user-facing: one line, exit 1, no traceback. Done here (not
        # only in main) so CliRunner tests see exactly what a person sees.
        from zizi.errors import WrongFormatError, ZiziError
        from zizi.text import printable  # names from strangers: control characters escaped

        try:
            return super().invoke(ctx)
        except WrongFormatError as e:  # e.g. a .pkl given where a zizi checkpoint belongs
            raise click.UsageError(printable(e)) from e
        except ZiziError as e:
            raise click.ClickException(printable(e)) from e
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"zizi.cli.{module}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zizi")
def cli() -> None:
    """zizi: fine-tune StyleGAN2 face generators and render what they learned."""


def main() -> None:
    """Console-script entry point. Threads and the OpenMP wait policy are chosen here,
    before any command imports torch (OpenMP reads them once, when torch loads it):
    docs/speed.md, "Threads on a shared CPU"."""
    from zizi.runtime import choose_threads

    choose_threads()
    cli(prog_name="zizi")
