"""Every command that takes a checkpoint takes a run folder the same way (its newest
snapshot), through one click type; a plain folder is one line, never a traceback."""

from __future__ import annotations

import shutil

import click
import pytest
import torch

from tests.helpers.cli import invoke, one_line
from tests.helpers.tiny import tiny_checkpoint
from zizi.cli import cli
from zizi.cli.options import CheckpointPath
from zizi.io.checkpoint import save_checkpoint
from zizi.io.runs import CONFIG, LATEST

# (command path, parameter name) of every checkpoint a command reads
EXPECTED = {
    ("blend", "a"),
    ("blend", "b"),
    ("directions", "checkpoint"),
    ("directions", "toward"),
    ("encoder train", "ckpt"),
    ("export", "checkpoint"),
    ("generate", "checkpoint"),
    ("info", "checkpoint"),
    ("mirror", "ckpt"),
    ("mirror serve", "ckpt"),
    ("project", "ckpt"),
    ("render walk", "checkpoint"),
    ("render walk", "toward"),
    ("render mix", "checkpoint"),
    ("resize", "checkpoint"),
}


def _commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # commands load lazily: ask, don't read .commands
        cmd = group.get_command(ctx, name)
        path = f"{prefix} {name}".strip()
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)
    if not prefix:  # `zizi mirror serve` hangs off a command, not a group
        from zizi.cli.mirror import serve

        yield "mirror serve", serve


def test_every_checkpoint_parameter_is_one_type():
    typed = {
        (path, p.name)
        for path, cmd in _commands(cli)
        for p in cmd.params
        if isinstance(p.type, CheckpointPath)
    }
    assert typed == EXPECTED
    # and no other parameter named like a checkpoint is a plain path
    for path, cmd in _commands(cli):
        for p in cmd.params:
            if p.name in ("checkpoint", "ckpt", "toward"):
                assert (path, p.name) in EXPECTED, (path, p.name)


@pytest.fixture(scope="module")
def run_and_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run = root / "00000-faces"
    run.mkdir()
    (run / CONFIG).write_text("kimg: 1\n")
    save_checkpoint(run / LATEST, tiny_checkpoint(16))
    single = root / "single.safetensors"
    shutil.copyfile(run / LATEST, single)
    return run, single


@pytest.mark.parametrize(
    "argv", [["info", "{}"], ["export", "{}", "--out", "{out}.pt", "--format", "rosinality"]]
)
def test_a_run_folder_reads_as_its_latest_snapshot(run_and_file, tmp_path, argv):
    run, single = run_and_file
    outs = []
    for i, source in enumerate((run, single)):
        out = tmp_path / f"o{i}"
        args = [a.format(source, out=out) for a in argv]
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        outs.append(
            r.output if argv[0] == "info" else torch.load(tmp_path / f"o{i}.pt", weights_only=True)
        )
    if argv[0] == "info":  # the same checkpoint described (the path it names aside)
        strip = [o.replace(str(run / LATEST), "X").replace(str(single), "X") for o in outs]
        assert strip[0] == strip[1]
    else:  # the same tensors, bit for bit (the archive's inner name follows the file's)
        a, b = outs[0]["g_ema"], outs[1]["g_ema"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "{}"],
        ["export", "{}", "--out", "{out}"],
        ["resize", "{}", "--resolution", "8", "--out", "{out}"],
        ["blend", "{}", "{}", "--out", "{out}"],
        ["directions", "{}", "--out", "{out}"],
        ["render", "walk", "{}", "--out", "{out}"],
    ],
)
def test_a_plain_folder_is_one_line(tmp_path, argv):
    plain = tmp_path / "plain"
    plain.mkdir()
    r = invoke(*[a.format(plain, out=tmp_path / "o.x") for a in argv])
    one_line(r, "not a zizi run folder", code=2)
    empty = tmp_path / "00001-empty"
    empty.mkdir()
    (empty / CONFIG).write_text("kimg: 1\n")
    r = invoke(*[a.format(empty, out=tmp_path / "o.x") for a in argv])
    one_line(r, "has no snapshot yet", code=2)
