"""Videos as a person receives them: frame count, size, fps, metadata, channels, resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.media import read_video, stop_after
from zizi.render.encode import ffmpeg_exe, work_dir
from zizi.render.scenes import RenderSettings, shift, walk

ROOT = Path(__file__).resolve().parents[2]


def tags(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines()[1:] if "=" in line)


@pytest.mark.parametrize("suffix,codec", [(".mp4", "h264"), (".mov", "prores")])
def test_video_reads_back_with_count_size_fps_and_metadata(tiny_run, tmp_path, suffix, codec):
    out = tmp_path / f"zizi{suffix}"
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--out",
        out,
        "--frames",
        12,
        "--fps",
        24,
        "--grid",
        "2x1",
        "--seeds",
        "4,5",
        "--size",
        20,
        "--segment",
        5,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    frames, meta = read_video(out)
    assert len(frames) == 12 and meta["fps"] == 24 and meta["size"] == (40, 20)
    assert meta["codec"].startswith(codec)
    t = tags(out)
    doc = json.loads(t["comment"].replace("\\=", "=").replace("\\;", ";").replace("\\#", "#"))
    assert "AI-generated" in doc["statement"] and doc["seeds"] == [4, 5]
    assert doc["checkpoints"]["count"] == 3 and doc["sidecar"] == out.name + ".json"
    if suffix == ".mp4":
        assert "AI-generated" in t["description"]
    side_bytes = Path(str(out) + ".json").read_bytes()
    assert hashlib.sha256(side_bytes).hexdigest() == doc["sidecar_sha256"]  # bound to the sidecar
    side = json.loads(side_bytes)
    assert (
        side["config"]["grid"] == [2, 1] and side["checkpoints"][0] == doc["checkpoints"]["first"]
    )
    assert not work_dir(out).exists() and not list(tmp_path.glob(".*"))


def test_png_frames_and_generate_pngs_carry_provenance(tiny_run, frames_of, tmp_path):
    r = invoke(
        "render", "shift", tiny_run, "--out", tmp_path / "seq", "--frames", 2, "--device", "cpu"
    )
    assert r.exit_code == 0, r.output
    info = Image.open(tmp_path / "seq" / "frame000001.png").info
    assert "AI-generated" in info["Description"]
    assert json.loads(info["zizi"])["config"]["command"] == "render shift"
    r = invoke("generate", frames_of[0], "--seeds", "0-2", "--grid", "--out", tmp_path / "g")
    assert r.exit_code == 0, r.output
    for name in ("seed0001.png", "grid.png"):
        doc = json.loads(Image.open(tmp_path / "g" / name).info["zizi"])
        assert doc["checkpoints"][0]["sha256"] and doc["config"]["seeds"] == "0-2"


def test_channels_have_equal_length_and_differ(frames_of, tmp_path):
    out = tmp_path / "room.mp4"
    r = invoke(
        "render",
        "walk",
        frames_of[1],
        "--out",
        out,
        "--frames",
        9,
        "--channels",
        3,
        "--loop",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    vids = [read_video(tmp_path / f"room-{k}.mp4")[0] for k in (1, 2, 3)]
    assert [len(v) for v in vids] == [9, 9, 9]
    assert not np.array_equal(vids[0][0], vids[1][0])
    assert (tmp_path / "index.html").is_file() and not out.exists()
    seeds = [json.loads((tmp_path / f"room-{k}.mp4.json").read_text())["seeds"] for k in (1, 2, 3)]
    assert seeds == [[0], [1], [2]]


class Stop(Exception):
    pass


@pytest.mark.parametrize("suffix", [".mp4", ""])
def test_resume_after_interruption_gives_identical_frames(tiny_run, tmp_path, suffix):
    s = RenderSettings(frames=20, segment_frames=6, grid=(2, 1), walk=True, loop=True)
    dev = torch.device("cpu")
    whole = tmp_path / f"whole{suffix}"
    shift([tiny_run], whole, s, dev)
    part = tmp_path / f"part{suffix}"
    # Ctrl-C after frame 14 has been produced; the writer thread may lag behind the producer
    # by up to QUEUE_FRAMES, so the interrupt waits until segment 1 (frames 6-11) is on disk.
    work = work_dir(part)

    def segment_1_kept() -> bool:
        if suffix:
            return (work / f"seg000001{suffix}").is_file()
        return all((work / "frames" / f"frame{i:06d}.png").is_file() for i in range(6, 12))

    with pytest.raises(KeyboardInterrupt):
        shift([tiny_run], part, s, dev, progress=stop_after(14, until=segment_1_kept))
    assert not part.exists() and work_dir(part).is_dir()
    with pytest.raises(Exception, match="--resume"):
        shift([tiny_run], part, s, dev)
    done: list[int] = []
    shift([tiny_run], part, s, dev, resume=True, progress=lambda d, t: done.append(d))
    assert done[0] == 12  # two finished segments of 6 were kept
    if suffix:
        a, b = read_video(whole)[0], read_video(part)[0]
        assert len(a) == len(b) == 20 and all(np.array_equal(x, y) for x, y in zip(a, b))
    else:
        names = sorted(p.name for p in whole.glob("frame*.png"))
        assert len(names) == 20
        for n in names:
            assert np.array_equal(
                np.asarray(Image.open(whole / n)), np.asarray(Image.open(part / n))
            )
    assert not work_dir(part).exists()


def test_resume_with_other_settings_is_refused(tiny_run, tmp_path):
    out = tmp_path / "x.mp4"
    s = RenderSettings(frames=12, segment_frames=4)
    with pytest.raises(KeyboardInterrupt):
        shift([tiny_run], out, s, torch.device("cpu"), progress=stop_after(6))
    s2 = RenderSettings(frames=12, segment_frames=4, trunc=0.5)
    with pytest.raises(Exception, match="other settings.*trunc"):
        shift([tiny_run], out, s2, torch.device("cpu"), resume=True)


def test_ctrl_c_leaves_nothing_under_the_final_name(tiny_run, tmp_path):
    out = tmp_path / "long.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "zizi",
        "render",
        "shift",
        str(tiny_run),
        "--out",
        str(out),
        "--frames",
        "3000",
        "--segment",
        "10",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (work_dir(out) / "seg000001.mp4").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert not list(work_dir(out).glob("*.partial"))
    assert (work_dir(out) / "seg000000.mp4").is_file()


def test_walk_loops_close_and_starts_at_the_seed(frames_of, tmp_path):
    from zizi.render.walks import LatentWalk

    keys = torch.randn(2, 3, 8)
    for interp in ("linear", "slerp", "cubic"):
        w = LatentWalk(keys, loop=True, interp=interp, easing="smooth")
        assert torch.equal(w.at(0, 30), keys[:, 0]) and torch.equal(w.at(30, 30), w.at(0, 30))
        assert torch.allclose(w.at(29, 30), w.at(1, 30), atol=3)  # neighbours of the seam are close
        assert (w.at(29, 30) - w.at(0, 30)).norm() < (keys[:, 1] - keys[:, 0]).norm()
    s = RenderSettings(frames=6, seeds=[7], loop=True, space="w", interp="cubic", keyframes=3)
    walk(frames_of[0], tmp_path / "w", s, torch.device("cpu"))
    r = invoke("generate", frames_of[0], "--seeds", 7, "--out", tmp_path / "g", "--device", "cpu")
    assert r.exit_code == 0
    first = np.asarray(Image.open(tmp_path / "w" / "frame000000.png"))
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "g" / "seed0007.png")))
    second = np.asarray(Image.open(tmp_path / "w" / "frame000003.png"))
    assert not np.array_equal(first, second)
