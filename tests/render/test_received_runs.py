"""`zizi render` and `zizi mirror` read a received run only inside it (issue #21 item 4)."""

from __future__ import annotations

import shutil

from tests.helpers.cli import invoke
from tests.helpers.tiny import make_run
from zizi.errors import ZiziError


def test_render_refuses_frames_linked_out_of_the_run(tmp_path):
    run = make_run(tmp_path / "inbox", kimgs=(0, 1))
    shutil.move(run / "frames", tmp_path / "elsewhere")
    (run / "frames").symlink_to(tmp_path / "elsewhere")
    r = invoke(
        "render", "shift", run, "--out", tmp_path / "a.mp4", "--frames", "2", "--device", "cpu"
    )
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "frames" in r.output and "outside" in r.output
    assert not (tmp_path / "a.mp4").exists()


def test_a_frame_linked_out_is_refused_by_name(tmp_path):
    from zizi.io.runs import list_frames

    run = make_run(tmp_path / "inbox", kimgs=(0, 1))
    f = run / "frames" / "frame-000000001000.safetensors"
    shutil.move(f, tmp_path / "theirs.safetensors")
    f.symlink_to(tmp_path / "theirs.safetensors")
    try:
        list_frames(run)
    except ZiziError as e:
        assert "frame-000000001000" in str(e) and "outside" in str(e)
    else:
        raise AssertionError("a frame linked out of the run was listed")


def test_mirror_shifted_run_with_latest_linked_out_is_refused(tmp_path):
    from zizi.mirror.reflect import shifted_checkpoints

    run = tmp_path / "inbox" / "00001-x"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("train: {}\n")
    (tmp_path / "secret.safetensors").write_bytes(b"x")
    (run / "latest.safetensors").symlink_to(tmp_path / "secret.safetensors")
    try:
        shifted_checkpoints(run)
    except ZiziError as e:
        assert "latest.safetensors" in str(e) and "outside" in str(e)
    else:
        raise AssertionError("latest.safetensors linked out of the run was used")
