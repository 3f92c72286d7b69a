"""benchmarks/gpu_session.sh: the one-call GPU session, checked by its CPU dry run.

The full dry run (every step at toy sizes: a minute or more on a loaded CPU) is marked
slow; CI runs it (.ci/run). The quick tests check the step machinery: the selection, the
budget that skips what no longer fits, the summary and the exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
STEPS = [
    "env",
    "deps",
    "build",
    "pytest-gpu",
    "train-256",
    "train-1024",
    "real",
    "render",
    "generate",
    "ops",
    "sanitizer",
    "package",
    "speed-options",
]


def _run(out: Path, *args: str, timeout: float = 180, **env) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _steps(out: Path) -> list[tuple[str, str]]:
    return [
        (s["step"], s["status"]) for s in json.loads((out / "summary.json").read_text())["steps"]
    ]


def test_selected_steps_only_and_a_summary(tmp_path):
    done = _run(tmp_path, "--steps", "env,deps")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["dry_run"] is True
    assert _steps(tmp_path) == [("env", "ok"), ("deps", "ok")]
    assert json.loads((tmp_path / "env.json").read_text())["torch"]
    assert "nothing to install" in (tmp_path / "logs" / "deps.log").read_text()


def test_no_step_starts_past_the_budget(tmp_path):
    done = _run(tmp_path, "--budget", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _steps(tmp_path) == [(name, "skipped") for name in STEPS]  # in order of value


def test_a_failing_step_fails_the_session(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "torch.py").write_text("raise ImportError('no torch here')\n")
    done = _run(tmp_path / "out", "--steps", "env,deps", PYTHONPATH=str(broken))
    assert done.returncode == 1, done.stdout + done.stderr
    assert _steps(tmp_path / "out") == [("env", "failed(1)"), ("deps", "ok")]  # the rest runs
    assert "no torch here" in (tmp_path / "out" / "logs" / "env.log").read_text()


@pytest.mark.slow
def test_the_whole_dry_run(tmp_path):
    done = _run(tmp_path, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _steps(tmp_path) == [(name, "ok") for name in STEPS]
    assert json.loads((tmp_path / "doctor.json").read_text())["ops"]["ops"]
    for name in (
        "shift.mp4",
        "shift-frame.png",
        "00000-base-samples-last.png",
        "00001-shift-samples-last.png",
    ):
        assert (tmp_path / "real" / name).stat().st_size > 0, name
    assert "sec/kimg" in (tmp_path / "logs" / "train-256.log").read_text()
