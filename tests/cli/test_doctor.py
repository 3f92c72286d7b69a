"""`zizi doctor` reports what is present and what is missing, and never fails for it."""

from __future__ import annotations

import json

import imageio_ffmpeg

from tests.helpers.cli import invoke
from zizi.cli import doctor as doctor_mod


def test_text_report_lists_everything():
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    for word in (
        "torch",
        "nvcc",
        "ninja",
        "custom ops: ZIZI_OPS=",
        "bias_act",
        "upfirdn2d",
        "ffmpeg",
        "extra [",
    ):
        assert word in result.output


def test_json_report_is_machine_readable(monkeypatch):
    monkeypatch.setenv("ZIZI_OPS", "ref")
    result = invoke("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ops"]["mode"] == "ref"
    assert {op["name"] for op in report["ops"]["ops"]} >= {"bias_act", "upfirdn2d"}
    assert all(op["uses"].startswith("reference") for op in report["ops"]["ops"])
    assert set(report["tools"]) == {"nvcc", "ninja", "c++"}
    assert "libx264" in report["ffmpeg"]["encoders"]


def test_missing_tools_and_ffmpeg_are_reported_not_raised(monkeypatch):
    def no_ffmpeg():
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_ffmpeg)
    monkeypatch.setattr(doctor_mod.shutil, "which", lambda name: None)
    monkeypatch.setenv("ZIZI_OPS", "turbo")
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "nvcc   not found" in result.output and "ninja  not found" in result.output
    assert "ffmpeg: not found" in result.output
    assert "ZIZI_OPS=invalid" in result.output
