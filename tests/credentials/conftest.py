"""Signing keys made in the test session (never the person's own); c2pa's reader is
tests/helpers/c2pa_reader.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from zizi.credentials import keys


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory) -> Path:
    """A local root and signing certificate, as `zizi credentials init` makes them."""
    folder = tmp_path_factory.mktemp("keys") / "credentials"
    keys.init(folder, "Zizi Test Studio")
    return folder
