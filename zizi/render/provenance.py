"""Provenance for every image and video zizi renders, in the spirit of content credentials.

One dict describes an output: zizi's version, each checkpoint's sha256, the dataset
manifest's hash when a run knows it, seeds, truncation, the full render config, and a
plain statement that the pictures are AI-generated. The sidecar JSON holds it whole.
Video containers carry a short summary (`summary`: the statement, the counts, the first
and last checkpoint) with the sidecar's name and sha256, never the whole record: a run of
1001 frames gives a record of ~180 KiB, and Linux caps one ffmpeg argument at 128 KiB.
PNG text chunks carry the whole record while it is small (stills), the summary otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATEMENT = (
    "AI-generated: these images were made by a generative neural network (StyleGAN2) "
    "with zizi; they do not show real people."
)

_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces (cached per path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def checkpoint_entry(
    path: str | os.PathLike, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """{"file", "sha256"} (plus kimg when the checkpoint is a training frame)."""
    entry: dict[str, Any] = {"file": Path(path).name, "sha256": sha256_file(path)}
    if extra and "kimg" in extra:
        entry["kimg"] = extra["kimg"]
    return entry


def dataset_manifest_sha256(
    run: str | os.PathLike | None, extras: list[dict[str, Any]]
) -> str | None:
    """The training dataset's manifest hash, when the checkpoints or the run folder say it.

    Looks at the checkpoints' header `extra` (`dataset_manifest_sha256`), then at the run's
    config.yaml: its `data:` folder's manifest.json, when that folder is still there.
    """
    for extra in extras:
        value = (extra or {}).get("dataset_manifest_sha256")
        if isinstance(value, str):
            return value
    if run is None:
        return None
    from zizi.errors import ZiziError
    from zizi.io.runs import read_config

    try:  # bounded and confined: a received run's config is read like any other
        cfg = read_config(run)
    except ZiziError:  # an unreadable config only costs the hash, never the render
        return None
    cfg_path = Path(run) / "config.yaml"
    # `zizi train` records the dataset folder as the top-level `data:` of config.yaml
    for key in ("data", "dataset"):
        value = cfg.get(key) if isinstance(cfg, dict) else None
        if isinstance(value, str):
            manifest = cfg_path.parent / value if not Path(value).is_absolute() else Path(value)
            manifest = manifest / "manifest.json" if manifest.name != "manifest.json" else manifest
            if manifest.is_file():
                return sha256_file(manifest)
    return None


def dataset_changes(run: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Every change of training data a run recorded (`zizi train --resume RUN --data
    OTHER`, or images changed in place): when, from what, to what. [] when none."""
    if run is None:
        return []
    from zizi.errors import ZiziError
    from zizi.io.runs import read_config

    try:
        changes = read_config(run).get("data_changes")
    except ZiziError:
        return []
    return [c for c in changes if isinstance(c, dict)] if isinstance(changes, list) else []


def record(
    kind: str,
    checkpoints: list[dict[str, Any]],
    config: dict[str, Any],
    dataset_sha256: str | None = None,
) -> dict[str, Any]:
    """The provenance document of one output."""
    from zizi import __version__

    return {
        "statement": STATEMENT,
        "generator": f"zizi {__version__}",
        "zizi_version": __version__,
        "kind": kind,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "checkpoints": checkpoints,
        "dataset_manifest_sha256": dataset_sha256,
        "seeds": config.get("seeds"),
        "truncation_psi": config.get("trunc"),
        "config": config,
    }


MAX_EMBEDDED = 16 << 10  # a record larger than this is embedded as its summary
MAX_LISTED = 64  # seeds listed in a summary; more are counted


def sidecar_bytes(doc: dict[str, Any]) -> bytes:
    """The sidecar file's exact bytes (so its sha256 can be embedded before it is written)."""
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def summary(doc: dict[str, Any], sidecar_name: str) -> dict[str, Any]:
    """A short stand-in for `doc`, bound to its sidecar by name and sha256."""
    ckpts = doc.get("checkpoints") or []
    seeds = doc.get("seeds")
    out = {
        k: doc.get(k)
        for k in (
            "statement",
            "generator",
            "zizi_version",
            "kind",
            "created",
            "dataset_manifest_sha256",
            "truncation_psi",
        )
    }
    out["seeds"] = (
        seeds
        if not isinstance(seeds, list) or len(seeds) <= MAX_LISTED
        else {"count": len(seeds), "first": seeds[0], "last": seeds[-1]}
    )
    out["checkpoints"] = {
        "count": len(ckpts),
        "first": ckpts[0] if ckpts else None,
        "last": ckpts[-1] if ckpts else None,
    }
    out["sidecar"] = sidecar_name
    out["sidecar_sha256"] = hashlib.sha256(sidecar_bytes(doc)).hexdigest()
    return out


def png_text(doc: dict[str, Any], sidecar_name: str | None = None) -> dict[str, str]:
    """PNG text chunks: the standard Software/Description keys plus the record (its summary
    when it is large and has a sidecar)."""
    full = json.dumps(doc, sort_keys=True)
    if sidecar_name is not None and len(full) > MAX_EMBEDDED:
        full = json.dumps(summary(doc, sidecar_name), sort_keys=True)
    return {"Software": doc["generator"], "Description": doc["statement"], "zizi": full}


def ffmpeg_metadata(doc: dict[str, Any], sidecar_name: str) -> dict[str, str]:
    """Container tags (`-metadata k=v`): a readable description and the record's summary
    with the sidecar's sha256 (short whatever the record's size)."""
    return {
        "description": doc["statement"],
        "comment": json.dumps(summary(doc, sidecar_name), sort_keys=True),
    }
