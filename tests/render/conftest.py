"""Tiny runs for render tests: G_ema-only frame checkpoints laid out as a run's frames/
(made by tests/helpers/tiny.py make_run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny import make_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def frames_of(tiny_run) -> list[Path]:
    return sorted((tiny_run / "frames").glob("frame-*.safetensors"))
