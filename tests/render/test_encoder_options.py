"""--encoder and --preset: the preset reaches ffmpeg, bad choices are one line, NVENC when
present."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.cli import invoke
from tests.helpers.media import read_video
from zizi.errors import ZiziError
from zizi.render.encode import encoder_options, has_encoder


def test_encoder_options_pick_defaults_and_refuse_bad_values():
    assert encoder_options("mp4", None, None) == (
        "libx264",
        {"pix_fmt": "yuv420p", "crf": 18, "preset": "medium"},
    )
    assert encoder_options("mp4", None, "veryfast")[1]["preset"] == "veryfast"
    enc, opts = encoder_options("mp4", "h264_nvenc", None)
    assert enc == "h264_nvenc" and opts["preset"] == "p5" and opts["rc"] == "vbr"
    with pytest.raises(ZiziError, match="not a libx264 preset"):
        encoder_options("mp4", None, "p5")
    with pytest.raises(ZiziError, match="not a hevc_nvenc preset"):
        encoder_options("mp4", "hevc_nvenc", "veryfast")
    with pytest.raises(ZiziError, match="apply to .mp4"):
        encoder_options("mov", None, "fast")
    assert encoder_options("mov", None, None)[0] == "prores_ks"


def _frames(tiny_run, out, *more):
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--out",
        out,
        "--frames",
        6,
        "--fps",
        24,
        "--seeds",
        "3",
        "--segment",
        4,
        "--device",
        "cpu",
        *more,
    )
    assert r.exit_code == 0, r.output
    return read_video(out)


def test_preset_reaches_x264(tiny_run, tmp_path):
    """x264 writes its settings into the stream: ultrafast's subme=0, medium's subme=7."""
    fast, meta = _frames(tiny_run, tmp_path / "fast.mp4", "--preset", "ultrafast")
    slow, _ = _frames(tiny_run, tmp_path / "slow.mp4")
    assert len(fast) == len(slow) == 6 and meta["codec"].startswith("h264")
    fast_b, slow_b = (tmp_path / "fast.mp4").read_bytes(), (tmp_path / "slow.mp4").read_bytes()
    assert b"subme=0" in fast_b and b"subme=7" in slow_b and b"bframes=0" in fast_b
    # the same pictures (16 px faces: ultrafast is rough, so only roughly)
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(fast, slow)) < 20


def test_bad_preset_is_one_line_and_writes_nothing(tiny_run, tmp_path):
    out = tmp_path / "x.mp4"
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--out",
        out,
        "--frames",
        3,
        "--device",
        "cpu",
        "--preset",
        "turbo",
    )
    assert r.exit_code != 0 and "turbo is not a libx264 preset" in r.output
    assert "Traceback" not in r.output and not list(tmp_path.iterdir())


def test_nvenc_is_refused_in_one_line_when_ffmpeg_lacks_it(tiny_run, tmp_path):
    if has_encoder("h264_nvenc"):
        pytest.skip("this ffmpeg has NVENC: the GPU test below covers it")
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--out",
        tmp_path / "x.mp4",
        "--frames",
        3,
        "--device",
        "cpu",
        "--encoder",
        "h264_nvenc",
    )
    assert r.exit_code != 0 and "lacks the h264_nvenc encoder" in r.output
    assert "Traceback" not in r.output and not list(tmp_path.iterdir())


@pytest.mark.gpu
@pytest.mark.parametrize("encoder,codec", [("h264_nvenc", "h264"), ("hevc_nvenc", "hevc")])
def test_nvenc_writes_a_video(tiny_run, tmp_path, encoder, codec):
    if not has_encoder(encoder):
        pytest.skip(f"this ffmpeg lacks {encoder}")
    frames, meta = _frames(tiny_run, tmp_path / "n.mp4", "--encoder", encoder, "--preset", "p1")
    assert len(frames) == 6 and meta["codec"].startswith(codec)


def _img(device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 3, 8, 8, generator=g) * 0.8).to(device)


def test_host_images_equal_to_uint8_on_cpu():
    from zizi.render.images import HostImages, to_uint8

    img = _img("cpu")
    np.testing.assert_array_equal(HostImages(img).numpy(), to_uint8(img))


@pytest.mark.gpu
def test_host_images_copy_asynchronously_and_equal_to_uint8():

    from zizi.render.images import HostImages, to_uint8

    img = _img("cuda")
    h = HostImages(img)
    assert h._host.is_pinned() and h._event is not None
    np.testing.assert_array_equal(h.numpy(), to_uint8(img))
