"""Bad input to `zizi render` is one clear line, and never leaves a file under the final name."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import invoke, one_line
from tests.helpers.tiny import make_run
from zizi.render import encode

ROOT = Path(__file__).resolve().parents[2]


def test_no_checkpoints(tmp_path):
    one_line(invoke("render", "shift", "--out", tmp_path / "a.mp4"), "no checkpoints", code=2)
    (tmp_path / "emptyrun").mkdir()
    one_line(
        invoke("render", "shift", tmp_path / "emptyrun", "--out", tmp_path / "a.mp4"),
        "no training frames",
        code=1,
    )
    one_line(
        invoke("render", "shift", tmp_path / "nope.safetensors", "--out", tmp_path / "a.mp4"),
        "not found",
        code=1,
    )


def test_mismatched_checkpoints_name_the_difference(frames_of, tmp_path):
    other = make_run(tmp_path, kimgs=(0,), res=32)
    big = next((other / "frames").glob("*.safetensors"))
    one_line(
        invoke("render", "shift", frames_of[0], big, "--out", tmp_path / "a.mp4"),
        "img_resolution",
        "32",
        "16",
        code=1,
    )


@pytest.mark.parametrize(
    "args,words",
    [
        (["--seconds", "0"], ["zero frames"]),
        (["--frames", "0"], ["positive"]),
        (["--seconds", "-5s"], ["bad duration"]),
        (["--grid", "2x2", "--seeds", "0-2"], ["4 faces", "3"]),
        (["--grid", "2x2", "--channels", "2", "--seeds", "0-6"], ["8 faces"]),
        (["--fps", "0"], ["fps"]),
    ],
)
def test_bad_settings(frames_of, tmp_path, args, words):
    one_line(
        invoke("render", "shift", frames_of[0], "--out", tmp_path / "a.mp4", *args), *words, code=2
    )
    assert not list(tmp_path.iterdir())


def test_unwritable_out(frames_of, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    one_line(
        invoke(
            "render",
            "shift",
            frames_of[0],
            "--out",
            tmp_path / "notes.txt" / "a.mp4",
            "--frames",
            2,
        ),
        "write",
        "notes.txt is a file",
        code=1,
    )
    one_line(
        invoke("render", "shift", frames_of[0], "--out", tmp_path / "a.avi", "--frames", 2),
        ".mp4",
        ".mov",
        code=1,
    )


def test_existing_out_needs_force(frames_of, tmp_path):
    (tmp_path / "a.mp4").write_text("keep me")
    one_line(
        invoke("render", "shift", frames_of[0], "--out", tmp_path / "a.mp4", "--frames", 2),
        "--force",
        code=1,
    )
    assert (tmp_path / "a.mp4").read_text() == "keep me"


def test_missing_ffmpeg_or_encoder(frames_of, tmp_path):
    missing = {"IMAGEIO_FFMPEG_EXE": str(tmp_path / "no-ffmpeg")}
    one_line(
        invoke(
            "render", "shift", frames_of[0], "--out", tmp_path / "a.mp4", "--frames", 2, env=missing
        ),
        "ffmpeg not found",
        code=1,
    )
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho ' V....D mpeg4                MPEG-4 part 2'\n")
    fake.chmod(0o755)
    encode._CHECKED.clear()
    for out, enc in (("a.mp4", "libx264"), ("a.mov", "prores_ks")):
        one_line(
            invoke(
                "render",
                "shift",
                frames_of[0],
                "--out",
                tmp_path / out,
                "--frames",
                2,
                env={"IMAGEIO_FFMPEG_EXE": str(fake)},
            ),
            f"lacks the {enc} encoder",
            code=1,
        )
    encode._CHECKED.clear()
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.mov").exists()


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))


@pytest.mark.parametrize("out", ["full.mp4", "full"])
def test_full_disk_mid_render_leaves_nothing_under_the_final_name(tiny_run, tmp_path, out):
    """A file-size limit on the process (and its ffmpeg) stands in for a disk that fills up."""
    dest = tmp_path / out
    cmd = [
        sys.executable,
        "-m",
        "zizi",
        "render",
        "shift",
        str(tiny_run),
        "--out",
        str(dest),
        "--frames",
        "60",
        "--size",
        "256",
        "--segment",
        "20",
        "--device",
        "cpu",
    ]
    res = subprocess.run(
        cmd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        timeout=600,
    )
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "nothing was written" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not dest.exists()
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_existing_wall_needs_force(frames_of, tmp_path):
    (tmp_path / "index.html").write_text("my page")
    one_line(
        invoke(
            "render",
            "walk",
            frames_of[0],
            "--out",
            tmp_path / "a.mp4",
            "--channels",
            2,
            "--frames",
            2,
        ),
        "index.html",
        "--force",
        code=1,
    )
    assert (tmp_path / "index.html").read_text() == "my page"


@pytest.mark.parametrize(
    "args,words",
    [  # issue #21 item 10: each bound is said in the error
        (["--frames", "1000000000000"], ["10,000,000"]),
        (["--seconds", "100000h"], ["10,000,000"]),
        (["--size", "100000"], ["8192"]),
        (["--grid", "1000x1000"], ["1,024"]),
        (["--channels", "10000"], ["64"]),
        (["--keyframes", "1000000000"], ["100000"]),
        (["--walk", "--keyframes", "100000", "--grid", "8x8"], ["latents", "262,144"]),
        (["--grid", "4x4", "--size", "8000"], ["16384"]),
    ],
)
def test_values_without_a_bound_are_refused_with_it(frames_of, tmp_path, args, words):
    one_line(
        invoke("render", "shift", frames_of[0], "--out", tmp_path / "a.mp4", *args), *words, code=2
    )
