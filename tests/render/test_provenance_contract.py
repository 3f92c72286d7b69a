"""Every provenance entry names its own file and carries that file's own sha256.

A run's frames all have the same size and sit in one folder, so a hash looked up by the
wrong key, or copied from the first entry, looks plausible (64 hex digits) and is wrong.
These tests recompute each hash from the file the entry names.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from PIL import Image

from tests.helpers.cli import invoke_ok


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_entries(entries: list[dict], files: list[Path]) -> None:
    assert [e["file"] for e in entries] == [f.name for f in files]
    assert [e["sha256"] for e in entries] == [_sha(f) for f in files]


def test_shift_records_each_frames_own_hash(tiny_run, frames_of, tmp_path):
    assert len({f.stat().st_size for f in frames_of}) == 1  # the case a size-keyed cache gets wrong
    assert len({_sha(f) for f in frames_of}) == len(frames_of)
    out = tmp_path / "seq"
    invoke_ok("render", "shift", tiny_run, "--out", out, "--frames", 3, "--device", "cpu")
    _assert_entries(json.loads((out / "provenance.json").read_text())["checkpoints"], frames_of)
    for png in sorted(out.glob("frame*.png")):
        _assert_entries(json.loads(Image.open(png).info["zizi"])["checkpoints"], frames_of)


def test_walk_and_generate_record_the_hash_of_the_file_they_read(frames_of, tmp_path):
    for f in frames_of:  # one after another: a cache must not answer for the previous one
        invoke_ok("render", "walk", f, "--out", tmp_path / f.stem, "--frames", 2, "--device", "cpu")
        _assert_entries(
            json.loads((tmp_path / f.stem / "provenance.json").read_text())["checkpoints"], [f]
        )
        invoke_ok("generate", f, "--seeds", 0, "--out", tmp_path / f"g-{f.stem}", "--device", "cpu")
        doc = json.loads(Image.open(tmp_path / f"g-{f.stem}" / "seed0000.png").info["zizi"])
        _assert_entries(doc["checkpoints"], [f])


def test_a_rewritten_file_is_hashed_again(tmp_path):
    from zizi.render.provenance import sha256_file

    p = tmp_path / "ck.bin"
    p.write_bytes(b"a" * 64)
    first = sha256_file(p)
    p.write_bytes(b"b" * 64)  # same size, new contents (a checkpoint replaced by --force)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert first == hashlib.sha256(b"a" * 64).hexdigest()
    assert sha256_file(p) == hashlib.sha256(b"b" * 64).hexdigest()
