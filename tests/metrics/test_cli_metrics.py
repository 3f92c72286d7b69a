"""`zizi metrics` as a person runs it: a run folder, a checkpoint, no Inception file."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import invoke


@pytest.fixture(autouse=True)
def _no_inception(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZIZI_INCEPTION", raising=False)


def test_run_without_inception_notes_it_and_measures_the_rest(tiny_run, tiny_data):
    run, _, _ = tiny_run
    r = invoke("metrics", run, "--data", tiny_data, "--num", "6", "--device", "cpu")
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.output.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "--inception PATH" in notes[0]  # one line for FID and KID together
    assert "swd:" in r.output and "weight shift of G_ema" in r.output
    assert (run / "charts" / "weight-shift.png").is_file()
    assert (run / "metrics.jsonl").is_file()


def test_checkpoint_with_a_torchscript_inception_gives_kid(tiny_run, tiny_data, tmp_path):
    from tests.helpers.inception import NvidiaLikeInception

    run, _, _ = tiny_run
    torch.manual_seed(0)
    inc = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(NvidiaLikeInception().eval()), str(inc))
    ckpt = run / "frames" / "frame-000000008000.safetensors"
    # KID only: FID's 2048² matrix square root would take minutes on a shared CPU
    r = invoke(
        "metrics",
        ckpt,
        "--data",
        tiny_data,
        "--num",
        "6",
        "--metrics",
        "kid,swd",
        "--inception",
        inc,
        "--trust-torchscript",
    )
    assert r.exit_code == 0, r.output
    assert "kid:" in r.output and "swd:" in r.output and "note:" not in r.output


def test_bad_metric_names_and_shift_on_a_checkpoint_are_usage_errors(tiny_run, tiny_data):
    run, _, _ = tiny_run
    r = invoke("metrics", run, "--data", tiny_data, "--metrics", "fdi")
    assert r.exit_code == 2 and "did you mean 'fid'" in r.output
    ckpt = run / "frames" / "frame-000000000000.safetensors"
    r = invoke("metrics", ckpt, "--data", tiny_data, "--metrics", "shift")
    assert r.exit_code == 2 and "training run folder" in r.output


def test_a_dataset_of_another_resolution_is_one_line(tiny_run, tmp_path):
    from PIL import Image

    run, _, _ = tiny_run
    data = tmp_path / "big"
    data.mkdir()
    Image.new("RGB", (32, 32)).save(data / "a.png")
    r = invoke("metrics", run, "--data", data, "--metrics", "swd")
    assert r.exit_code == 1 and "16×16" in r.output and "Traceback" not in r.output
