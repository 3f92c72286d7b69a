"""`zizi train` on a prepared dataset from someone else (#21 item 4): a sound one trains;
one whose manifest.json leads out of it is refused with one line naming it (main of
2026-12-06 trained on the outside manifest's list); a FIFO image is left alone and
named, not waited on (it hung)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SET_FLAGS
from zizi.data.prepare import PrepareConfig, prepare


def train(data: Path, ckpt: Path, out: Path):
    sets = TINY_SET_FLAGS
    return invoke("train", "--data", data, "--resume", ckpt, "--out", out, *sets, "--kimg", "0.004")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_data) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    prepare(PrepareConfig(src=tiny_data, out=out, resolution=16, workers=1))
    return out


@pytest.fixture
def received(prepared, tmp_path) -> Path:
    ds = tmp_path / "inbox" / "ds"
    shutil.copytree(prepared, ds, symlinks=True)
    return ds


def test_a_sound_prepared_dataset_trains(received, tiny_ckpt, tmp_path):
    r = train(received, tiny_ckpt, tmp_path / "runs")
    assert r.exit_code == 0, r.output
    assert "left alone" not in r.output


def test_a_manifest_linked_out_is_refused_in_one_line(received, tiny_ckpt, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(received / "manifest.json", elsewhere / "manifest.json")
    (received / "manifest.json").unlink()
    (received / "manifest.json").symlink_to(elsewhere / "manifest.json")
    r = train(received, tiny_ckpt, tmp_path / "runs")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    line = [x for x in r.output.splitlines() if x.strip()][-1]
    assert "manifest.json" in line and "points outside" in line, line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_image_is_left_alone_not_waited_on(received, tiny_ckpt, tmp_path):
    victim = sorted(received.glob("00000/*.png"))[0]
    victim.unlink()
    os.mkfifo(victim)

    def hung(*_):
        raise TimeoutError("train waited on a FIFO")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        r = train(received, tiny_ckpt, tmp_path / "runs")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert r.exit_code == 0, r.output
    assert "left alone: not a plain file" in r.output and victim.name in r.output, r.output
