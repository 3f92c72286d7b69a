"""Option decorators shared by several commands."""

from __future__ import annotations

import click

device_option = click.option(
    "--device", default="auto", show_default=True,
    help="auto (CUDA when available), cpu, or cuda[:N].",
)
