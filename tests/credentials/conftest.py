"""Signing keys made in the test session (never the person's own), and c2pa's reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zizi.credentials import keys


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory) -> Path:
    """A local root and signing certificate, as `zizi credentials init` makes them."""
    folder = tmp_path_factory.mktemp("keys") / "credentials"
    keys.init(folder, "Zizi Test Studio")
    return folder


def read(path: Path, anchors: str | None = None) -> tuple[str, dict, dict]:
    """(validation state, active manifest, whole store) as c2pa's own Reader sees them."""
    import c2pa

    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    with c2pa.Reader(str(path), context=c2pa.Context.from_dict(settings)) as r:
        return r.get_validation_state(), r.get_active_manifest(), json.loads(r.json())
