"""scripts/setup.sh: which environment it installs into, and which torch (dry runs)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = (ROOT / "scripts" / "setup.sh").read_text()


def _dry_run(tmp_path: Path, python: str, env_extra: dict | None = None) -> str:
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(ZIZI_SETUP_DRY_RUN="1", PYTHON=python, **(env_extra or {}))
    out = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup.sh")],
        env=env,
        text=True,
        capture_output=True,
        check=True,
    )
    return out.stdout


def _fake_python(tmp_path: Path, name: str, in_venv: bool, torch: str | None) -> str:
    """A python whose sys.prefix (inside a venv or not) and torch version we choose."""
    site = tmp_path / f"{name}-site"
    site.mkdir()
    if torch is None:  # hides any real torch
        (site / "torch.py").write_text("raise ImportError('no torch here')\n")
    else:
        (site / "torch.py").write_text(f"__version__ = {torch!r}\n")
    if in_venv:
        (site / "sitecustomize.py").write_text("import sys\nsys.prefix = '/somewhere/venv'\n")
    exe = tmp_path / name
    # The base interpreter, not this venv's: run under .venv/bin/python (as CI does), a
    # wrapper around sys.executable would itself report being inside a venv.
    base = getattr(sys, "_base_executable", None) or sys.executable
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {base} "$@"\n')
    exe.chmod(0o755)
    return str(exe)


def test_never_breaks_system_packages_and_pins_torch():
    code = [line for line in SCRIPT.splitlines() if not line.lstrip().startswith("#")]
    assert not any("--break-system-packages" in line for line in code)
    assert "torch==2.13.0" in SCRIPT
    for line in SCRIPT.splitlines():
        if "pip install" in line and "torch" in line:
            assert "TORCH_PIN" in line or "torch==" in line, line


def test_outside_a_venv_with_torch_makes_a_venv_that_keeps_it(tmp_path):
    py = _fake_python(tmp_path, "py", in_venv=False, torch="2.5.1+cu124")
    out = _dry_run(tmp_path, py)
    assert f"+ {py} -m venv --system-site-packages .venv" in out
    assert "installing torch" not in out
    assert "+ .venv/bin/python -m pip install -q -e .[dev]" in out


def test_outside_a_venv_without_torch_installs_the_pinned_one(tmp_path):
    py = _fake_python(tmp_path, "py", in_venv=False, torch=None)
    out = _dry_run(tmp_path, py)
    assert f"+ {py} -m venv .venv" in out
    assert "+ .venv/bin/python -m pip install -q torch==2.13.0" in out


def test_an_old_torch_is_not_kept(tmp_path):
    py = _fake_python(tmp_path, "py", in_venv=False, torch="1.13.1")
    out = _dry_run(tmp_path, py)
    assert "--system-site-packages" not in out and "torch==2.13.0" in out


def test_inside_a_venv_installs_there_and_links_it(tmp_path):
    py = _fake_python(tmp_path, "py", in_venv=True, torch="2.4.0")
    out = _dry_run(tmp_path, py)
    assert "+ ln -sfn /somewhere/venv .venv" in out
    assert " -m venv" not in out


def test_an_existing_venv_is_reused(tmp_path):
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / ".venv" / "bin" / "python")
    out = _dry_run(tmp_path, sys.executable)
    assert "setup: using .venv" in out and " -m venv" not in out


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python")
def test_missing_python_is_one_line(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    r = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup.sh")],
        text=True,
        capture_output=True,
        env=dict(os.environ, PYTHON="/nonexistent/python3"),
    )
    assert r.returncode == 1 and "not found" in r.stderr
