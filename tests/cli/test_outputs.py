"""Outputs survive killed runs and concurrent runs (issue #13 items 5 and 7).

A writer killed with SIGKILL mid-write is a real subprocess running the real CLI; the
kill lands at the dangerous moment (the finished temporary file is about to be renamed)
because the subprocess patches `os.replace`/`os.link` to stop there and say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.files import lock_path, output_lock, remove_stale_temps
from zizi.io.checkpoint import read_header, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# Runs `zizi ARGS`, but stops forever just before a temporary file would be renamed into
# place (printing READY), so the test can SIGKILL it with the temp on disk.
_HANG_AT_RENAME = r"""
import os, sys, time
def hang(real):
    def run(src, dst, *a, **k):
        if str(src).endswith(".partial"):
            print("READY", flush=True)
            time.sleep(600)
        return real(src, dst, *a, **k)
    return run
os.replace, os.link = hang(os.replace), hang(os.link)
from zizi.cli import cli
cli.main(sys.argv[1:], prog_name="zizi")
"""

# Holds zizi's output lock on argv[1] until killed.
_HOLD_LOCK = r"""
import sys, time
from zizi.files import output_lock
with output_lock(sys.argv[1]):
    print("READY", flush=True)
    time.sleep(600)
"""


def _start(script: str, *args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if "READY" not in line:
        proc.kill()
        raise AssertionError(f"helper did not get ready: {line!r} {proc.stderr.read()[-2000:]}")
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".partial"))


@pytest.fixture
def src(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "src" / "tiny.safetensors", tiny_checkpoint(16))


@pytest.mark.parametrize("command", ["import", "export"])
def test_killed_writer_leaves_a_temp_that_the_next_run_removes(command, src, tmp_path):
    out_dir = tmp_path / "out"
    ext = ".pt" if command == "export" else ".safetensors"
    extra = ["--resolution", "8"] if command == "resize" else []
    proc = _start(_HANG_AT_RENAME, command, src, "--out", out_dir / f"a{ext}", *extra)
    assert len(_temps(out_dir)) == 1  # the whole file, written, not yet renamed
    _kill(proc)
    left = _temps(out_dir)
    assert len(left) == 1 and str(proc.pid) in left[0].name and not (out_dir / f"a{ext}").exists()
    assert lock_path(out_dir / f"a{ext}").exists()

    # a live writer in the same folder: its temp must survive the next run's sweep
    live = _start(_HANG_AT_RENAME, command, src, "--out", out_dir / f"b{ext}", *extra)
    try:
        live_temp = [p for p in _temps(out_dir) if str(live.pid) in p.name]
        assert len(live_temp) == 1
        result = invoke(command, src, "--out", out_dir / f"c{ext}", *extra)
        assert result.exit_code == 0, result.output
        assert _temps(out_dir) == live_temp  # the dead writer's temp is gone, the live one kept
        assert not lock_path(out_dir / f"a{ext}").exists()  # its lock went with it
    finally:
        _kill(live)
    # once its writer is dead, its temp and lock go too
    assert remove_stale_temps(out_dir) == sorted([*live_temp, lock_path(out_dir / f"b{ext}")])
    assert sorted(p.name for p in out_dir.iterdir()) == [f"c{ext}"]


def test_stale_temp_names_that_are_not_zizis_are_left_alone(tmp_path):
    keep = [
        tmp_path / ".notes.txt.partial",
        tmp_path / "x.999999999.abcdef12.partial",
        tmp_path / ".x.12ab.abcdef12.partial",
    ]
    for p in keep:
        p.write_text("mine")
    assert remove_stale_temps(tmp_path) == []
    assert all(p.exists() for p in keep)


def test_second_import_to_one_out_gets_one_clear_line(src, tmp_path):
    out = tmp_path / "out" / "same.safetensors"
    holder = _start(_HOLD_LOCK, out)  # another zizi run is writing --out right now
    try:
        result = invoke("import", src, "--out", out)
        assert result.exit_code == 1, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "being written by another zizi run" in lines[0], result.output
        assert f"pid {holder.pid}" in lines[0]
        assert not out.exists()
        forced = invoke("import", src, "--out", out, "--force")
        assert forced.exit_code == 1 and "being written" in forced.output  # --force is no way round
    finally:
        _kill(holder)
    # the holder was killed: its lock is stale and the next run takes it over
    result = invoke("import", src, "--out", out)
    assert result.exit_code == 0, result.output
    assert read_header(out)["provenance"]["source_name"] == "tiny.safetensors"
    assert not lock_path(out).exists()


@pytest.mark.parametrize("command", ["import", "export", "resize"])
def test_output_that_appears_meanwhile_is_never_replaced(command, src, tmp_path, monkeypatch):
    """Without --force, the output is created exclusively: a file another program wrote
    there while this run was working stays as it was."""
    import zizi.files

    ext = ".pt" if command == "export" else ".safetensors"
    out = tmp_path / f"out{ext}"
    real = zizi.files.temp_beside

    def meanwhile(path, *a, **k):
        if Path(path) == out:
            out.write_text("someone else's")
        return real(path, *a, **k)

    monkeypatch.setattr(zizi.files, "temp_beside", meanwhile)
    import zizi.io.rosinality

    monkeypatch.setattr(zizi.io.rosinality, "temp_beside", meanwhile)
    extra = ["--resolution", "8"] if command == "resize" else []
    result = invoke(command, src, "--out", out, *extra)
    assert result.exit_code == 1, result.output
    assert "already exists" in result.output and "--force" in result.output
    assert out.read_text() == "someone else's"
    assert _temps(tmp_path) == []


def test_lock_of_a_live_process_on_this_host_is_kept(tmp_path):
    out = tmp_path / "x.safetensors"
    with output_lock(out):
        with pytest.raises(Exception, match="being written by another zizi run"):
            with output_lock(out):
                pass
    assert not lock_path(out).exists()


def test_two_prepares_on_one_out(tmp_path):
    from PIL import Image

    srcdir = tmp_path / "photos"
    srcdir.mkdir()
    Image.new("RGB", (80, 80), (200, 10, 10)).save(srcdir / "a.png")
    out = tmp_path / "ds"
    holder = _start(_HOLD_LOCK, out)
    try:
        result = invoke(
            "dataset", "prepare", srcdir, "--out", out, "--resolution", "32", "--align", "center"
        )
        assert result.exit_code == 1, result.output
        assert "being written by another zizi run" in result.output
        assert not out.exists()
    finally:
        _kill(holder)
    time.sleep(0.1)
    result = invoke(
        "dataset", "prepare", srcdir, "--out", out, "--resolution", "32", "--align", "center"
    )
    assert result.exit_code == 0, result.output
