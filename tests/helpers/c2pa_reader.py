"""What c2pa's own Reader sees in a file zizi signed: the check of every signed output."""

from __future__ import annotations

import json
from pathlib import Path


def read(path: Path, anchors: str | None = None) -> tuple[str, dict, dict]:
    """(validation state, active manifest, whole store) as c2pa's own Reader sees them."""
    import c2pa

    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    with c2pa.Reader(str(path), context=c2pa.Context.from_dict(settings)) as r:
        return r.get_validation_state(), r.get_active_manifest(), json.loads(r.json())
