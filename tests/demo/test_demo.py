"""`zizi demo`: the folder rules, and the whole pipeline end to end (--quick, slow)."""

import json
import re
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from zizi.demo.pipeline import MARKER, DemoError, check_out, plan_for


def test_out_may_be_new_empty_or_an_earlier_demo(tmp_path):
    check_out(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    (earlier / "runs").mkdir(parents=True)
    (earlier / MARKER).write_text("made by zizi demo\n")
    check_out(earlier)
    assert not earlier.exists()  # replaced by the new run


def test_out_with_other_files_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(DemoError, match="not an earlier zizi demo"):
        check_out(tmp_path / "photos")
    assert (tmp_path / "photos" / "me.jpg").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DemoError, match="is a file"):
        check_out(tmp_path / "file")


def test_refuses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / MARKER).write_text("")
    with pytest.raises(DemoError, match="refusing"):
        check_out(tmp_path)


def test_plans_scale_with_the_device():
    quick, cpu, gpu = plan_for(True, "cpu"), plan_for(False, "cpu"), plan_for(False, "cuda")
    assert quick.finetune_kimg < cpu.finetune_kimg < gpu.finetune_kimg
    assert not cpu.train_base and gpu.train_base  # the CPU starts from the shipped base


def test_a_folder_of_other_files_is_one_line(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = invoke("demo", "--quick", "--out", tmp_path, "--device", "cpu")
    assert result.exit_code == 1
    assert "not an earlier zizi demo" in result.output and "Traceback" not in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    import imageio

    out = tmp_path / "demo"
    result = invoke("demo", "--quick", "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["data", "base", "fine-tune", "video", "report"]
    for name in (
        "1-base-set.png",
        "1-shift-set.png",
        "2-base-model/grid.png",
        "3-finetuned/grid.png",
        "4-video-frame.png",
    ):
        assert (out / "samples" / name).is_file(), name
    plan = plan_for(True, "cpu")
    reader = imageio.get_reader(str(out / "weight-shift.mp4"), "ffmpeg")
    assert reader.count_frames() == round(plan.video_seconds * plan.fps)
    frame = reader.get_data(0)
    assert frame.shape[:2] == (plan.grid[1] * plan.face_px, plan.grid[0] * plan.face_px)
    reader.close()
    # every stage's command is recorded, to be run by hand
    commands = [c for s in report["stages"] for c in s["commands"]]
    assert any(c.startswith("zizi dataset prepare") for c in commands)
    assert any(c.startswith("zizi train") and "--resume" in c for c in commands)
    assert any(c.startswith("zizi render shift") and "--loop" in c for c in commands)
    shift = report["shift"]
    assert shift["finetuned_to_shift_set"] < shift["base_to_shift_set"]
    assert "closer" in result.output
    # the live mirror on these models: the shipped encoder, the run just made
    serve = report["mirror"].split()
    assert serve[:3] == ["zizi", "mirror", "serve"] and "live from your webcam" in result.output
    for flag in ("--checkpoint", "--shifted", "--encoder"):
        assert Path(serve[serve.index(flag) + 1]).exists(), flag
    assert serve[serve.index("--encoder") + 1].endswith("base-32-encoder.safetensors")
    # the fine-tune is not silent: the trainer's progress, a line per tick off a terminal
    assert re.search(r"^tick \d+  kimg [\d.]+/[\d.]+", result.output, re.M), result.output


@pytest.mark.slow
def test_train_base_trains_from_scratch_and_exports_a_small_base(tmp_path):
    """The path that made the shipped base checkpoint (--quick lengths)."""
    from zizi.io.checkpoint import load_checkpoint

    out = tmp_path / "demo"
    result = invoke("demo", "--quick", "--train-base", "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    base = report["stages"][1]
    assert any("--net" in c for c in base["commands"])
    # the second base run continues the first with a smaller batch
    trains = [c for c in base["commands"] if c.startswith("zizi train")]
    assert len(trains) == 2 and "--resume" in trains[1] and "train-base-more.yaml" in trains[1]
    ckpt = load_checkpoint(out / "base-32.safetensors")
    assert sorted(ckpt.nets) == ["D", "G", "G_ema"] and not ckpt.state and ckpt.train is None
    assert "regenerate" in ckpt.provenance["demo"]
    finetune = report["stages"][2]["commands"][0]
    assert f"--resume {out / 'base-32.safetensors'}" in finetune
