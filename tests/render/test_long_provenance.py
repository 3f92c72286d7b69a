"""A render of a long run: its provenance record outgrows one command-line argument
(issue #21 item 7). Linux caps one argument at 128 KiB; a default `--kimg 1000` run has
1001 frames, and the record went to ffmpeg whole (`Argument list too long` at ~950)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np

from zizi.render import job, provenance
from zizi.render.encode import ffmpeg_exe

FRAMES_OF_RUN = 5000


def _record() -> dict:
    ckpts = [
        {
            "file": f"frame-{k * 1000:012d}.safetensors",
            "sha256": hashlib.sha256(str(k).encode()).hexdigest(),
            "kimg": float(k),
        }
        for k in range(FRAMES_OF_RUN)
    ]
    return provenance.record("video", ckpts, {"command": "render shift", "seeds": [0, 1]})


def _frames(start: int, stop: int):
    for i in range(start, stop):
        yield [np.full((16, 16, 3), 40 * i, dtype=np.uint8)]


def test_a_5000_frame_run_renders_with_a_short_tag_and_the_whole_record_beside(tmp_path):
    out = tmp_path / "long.mp4"
    rec = _record()
    assert len(json.dumps(rec)) > 128 << 10  # the record alone is past the argument cap
    job.run(
        [job.Output(out, rec)],
        _frames,
        count=3,
        fps=3,
        size=(16, 16),
        plan={"command": "test"},
        segment_frames=3,
    )
    meta = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(out), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
    ).stdout
    tags = dict(line.split("=", 1) for line in meta.splitlines()[1:] if "=" in line)
    tag = json.loads(tags["comment"].replace("\\=", "=").replace("\\;", ";").replace("\\#", "#"))
    assert len(tags["comment"]) < 4096
    assert tag["checkpoints"]["count"] == FRAMES_OF_RUN
    side = Path(str(out) + ".json").read_bytes()
    assert hashlib.sha256(side).hexdigest() == tag["sidecar_sha256"]
    assert len(json.loads(side)["checkpoints"]) == FRAMES_OF_RUN


def test_png_frames_of_a_long_run_carry_the_summary_not_the_record(tmp_path):
    from PIL import Image

    out = tmp_path / "seq"
    job.run(
        [job.Output(out, _record())],
        _frames,
        count=2,
        fps=2,
        size=(16, 16),
        plan={"command": "test"},
        segment_frames=2,
    )
    info = Image.open(out / "frame000001.png").info
    assert len(info["zizi"]) < 4096 and "AI-generated" in info["Description"]
    side = (out / "provenance.json").read_bytes()
    assert json.loads(info["zizi"])["sidecar_sha256"] == hashlib.sha256(side).hexdigest()
