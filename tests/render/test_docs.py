"""Every zizi command in docs/render.md (and the README's pointer to it) uses real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from zizi.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _commands(text: str) -> list[list[str]]:
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("#") or "zizi" not in line:
                continue
            if "--wrap" in line:
                line = shlex.split(line)[-1]
            words = shlex.split(line)
            start = next((i for i, w in enumerate(words) if w == "zizi"), None)
            if start is not None:
                out.append(words[start + 1 :])
    return out


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    ctx = click.Context(cli)
    cmd: click.Command = cli
    rest = list(words)
    while isinstance(cmd, click.Group):
        cmd = cmd.get_command(ctx, rest.pop(0))
        assert cmd is not None, words
    return cmd, rest


DOCS = [ROOT / "docs" / "render.md", ROOT / "docs" / "latents.md", ROOT / "README.md"]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_shown_option_exists(doc):
    cmds = _commands(doc.read_text())
    if doc.name == "README.md":
        cmds = [c for c in cmds if c[:1] in (["blend"], ["directions"], ["render"])]
    assert cmds
    for words in cmds:
        cmd, rest = _command(words)
        known = {
            o
            for p in cmd.params  # with the --no- half of a --x/--no-x flag
            for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]
        }
        used = {w for w in rest if w.startswith("--")}
        assert used <= known, (words, used - known)
