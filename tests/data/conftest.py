"""Fixtures for the dataset tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.messy import build_messy_folder


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    return build_messy_folder(tmp_path / "src")
