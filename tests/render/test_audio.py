"""Sound-driven renders (`--audio`): clicks speed the faces up, the sound is in the video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.media import CLICKS_S, audio_seconds, click_track
from zizi.render.audio import analyse, clock
from zizi.render.encode import ffmpeg_exe


@pytest.fixture(scope="module")
def ckpt():
    # a trained model (the demo's shipped 32² base): random tiny nets draw nearly flat
    # images, whose frame-to-frame change is too small to measure the pace by
    return Path(__file__).resolve().parents[2] / "zizi" / "demo" / "base-32.safetensors"


def test_analysis_finds_the_clicks(tmp_path):
    env = analyse(click_track(tmp_path / "c.wav"), fps=10)
    assert len(env.loudness) == 20 and abs(env.seconds - 2.0) < 1e-3
    clicks = {int(t * 10) for t in CLICKS_S}
    assert set(np.argsort(env.onsets)[-3:]) == clicks
    assert set(np.argsort(env.loudness)[-3:]) == clicks
    x = clock(env.speeds(), loop=False)
    assert x[0] == 0.0 and x[-1] == 19.0 and all(b > a for a, b in zip(x, x[1:]))
    assert max(np.diff(x)) == pytest.approx(np.diff(x)[4], rel=1e-9)  # the step into frame 5


def changes(folder: Path) -> np.ndarray:
    frames = [
        np.asarray(Image.open(p).convert("RGB")).astype(float)
        for p in sorted(folder.glob("frame*.png"))
    ]
    return np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])


def test_frame_change_peaks_at_the_clicks_and_repeats_exactly(ckpt, tmp_path):
    track = click_track(tmp_path / "c.wav")
    outs = []
    for k in range(2):
        out = tmp_path / f"seq{k}"
        r = invoke(
            "render",
            "walk",
            ckpt,
            "--audio",
            track,
            "--fps",
            10,
            "--keyframes",
            3,
            "--easing",
            "linear",
            "--interp",
            "linear",
            "--seeds",
            4,
            "--out",
            out,
            "--device",
            "cpu",
        )
        assert r.exit_code == 0, r.output
        outs.append(out)
    d = changes(outs[0])
    assert len(d) == 19  # 20 frames: the track's length at 10 fps
    # d[i] is the change from frame i to i+1; the clicks land in frames 5, 10, 15
    # each click is a peak of the change (how high depends on what the faces pass through:
    # a click during a large feature's change stands higher than one during a small)
    for c in (4, 9, 14):
        assert d[c] > d[c - 1] and d[c] > d[c + 1] and d[c] > 1.5 * np.median(d), d.round(2)
    assert np.array_equal(d, changes(outs[1]))
    plain = tmp_path / "plain"
    assert (
        invoke(
            "render",
            "walk",
            ckpt,
            "--frames",
            20,
            "--keyframes",
            3,
            "--easing",
            "linear",
            "--interp",
            "linear",
            "--seeds",
            4,
            "--out",
            plain,
            "--device",
            "cpu",
        ).exit_code
        == 0
    )
    p = changes(plain)
    # the sound gathers the change at the clicks; the same walk without it spreads it
    # evenly (measured with the demo base: 38 % of all change at the three click frames
    # against 14 %)
    clicks = [4, 9, 14]
    assert d[clicks].sum() / d.sum() > 2 * p[clicks].sum() / p.sum()


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_video_carries_the_sound_for_its_whole_length(ckpt, tmp_path, suffix):
    track = click_track(tmp_path / "c.wav")
    out = tmp_path / f"v{suffix}"
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--audio",
        track,
        "--fps",
        10,
        "--seconds",
        "1.5s",
        "--seeds",
        4,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    assert abs(audio_seconds(out) - 1.5) < 0.03  # cut to the video's 15 frames
    info = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True
    ).stderr
    assert "Audio:" in info and "comment" in info  # the sound, and the provenance tag kept
    longer = tmp_path / f"l{suffix}"
    assert (
        invoke(
            "render",
            "walk",
            ckpt,
            "--audio",
            track,
            "--fps",
            10,
            "--seconds",
            "3s",
            "--seeds",
            4,
            "--out",
            longer,
            "--device",
            "cpu",
        ).exit_code
        == 0
    )
    assert abs(audio_seconds(longer) - 3.0) < 0.03  # padded with silence


def test_missing_or_bad_track_is_one_line(ckpt, tmp_path):
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--audio",
        tmp_path / "none.wav",
        "--out",
        tmp_path / "o",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "no such file" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    r = invoke("render", "walk", ckpt, "--audio", bad, "--out", tmp_path / "o", "--device", "cpu")
    assert r.exit_code != 0 and "cannot read the audio" in r.output and "Traceback" not in r.output


def test_audio_trunc_pulls_faces_to_the_average_on_the_clicks(ckpt, tmp_path):
    track = click_track(tmp_path / "c.wav")
    out = tmp_path / "s"
    r = invoke(
        "render",
        "shift",
        ckpt,
        "--audio",
        track,
        "--fps",
        10,
        "--trunc",
        1,
        "--audio-trunc",
        0,
        "--seeds",
        4,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    frames = [
        np.asarray(Image.open(p).convert("RGB")).astype(float)
        for p in sorted(out.glob("frame*.png"))
    ]
    for psi, name in ((1, "g1"), (0, "g0")):
        assert (
            invoke(
                "generate",
                ckpt,
                "--seeds",
                4,
                "--trunc",
                psi,
                "--out",
                tmp_path / name,
                "--device",
                "cpu",
            ).exit_code
            == 0
        )
    g1, g0 = (
        np.asarray(Image.open(tmp_path / n / "seed0004.png").convert("RGB")).astype(float)
        for n in ("g1", "g0")
    )
    clicks = [int(t * 10) for t in CLICKS_S]
    quiet = [i for i in range(len(frames)) if i not in clicks]
    assert max(np.abs(frames[i] - g1).mean() for i in quiet) < 2  # psi ~ 1 in near-silence
    assert all(np.abs(frames[c] - g0).mean() < 0.5 * np.abs(g1 - g0).mean() for c in clicks)
    r = invoke(
        "render",
        "walk",
        ckpt,
        "--audio",
        track,
        "--audio-trunc",
        0,
        "--space",
        "w",
        "--out",
        tmp_path / "x",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "--audio-trunc" in r.output


def test_resume_with_another_track_under_the_same_name_is_refused(ckpt, tmp_path):
    """The plan a resume must repeat holds the track's sha256, not only its path."""
    from tests.helpers.media import stop_after
    from zizi.errors import ZiziError
    from zizi.render.scenes import RenderSettings, walk

    track = click_track(tmp_path / "c.wav")
    out = tmp_path / "v.mp4"

    def settings() -> RenderSettings:
        return RenderSettings(
            frames=0, fps=10, audio=str(track), keyframes=2, grid=(1, 1), segment_frames=5
        )

    with pytest.raises(KeyboardInterrupt):
        walk(ckpt, out, settings(), torch.device("cpu"), progress=stop_after(7))
    click_track(track, seconds=2.0 + 0.1)  # another sound, the same file name
    with pytest.raises(ZiziError, match="other settings.*audio"):
        walk(ckpt, out, settings(), torch.device("cpu"), resume=True)
