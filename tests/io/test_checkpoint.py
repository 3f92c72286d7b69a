"""Writing zizi checkpoints and exports: where the write cannot happen, and file modes."""

from __future__ import annotations

import os
import stat

import pytest

from tests.helpers.tiny import tiny_checkpoint
from zizi.errors import CheckpointError
from zizi.io.checkpoint import save_checkpoint
from zizi.io.rosinality import save_rosinality


@pytest.fixture(scope="module")
def ckpt():
    return tiny_checkpoint(8)


def test_out_under_a_file_is_one_clear_error(ckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for save, name in [(save_checkpoint, "x.safetensors"), (save_rosinality, "x.pt")]:
        with pytest.raises(CheckpointError, match="cannot write into .*notes.txt"):
            save(tmp_path / "notes.txt" / name, ckpt)  # was: a FileExistsError traceback
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_files_get_the_usual_mode_not_0600(ckpt, tmp_path):
    old = os.umask(0o022)
    try:
        a = save_checkpoint(tmp_path / "a.safetensors", ckpt)
        b = save_rosinality(tmp_path / "b.pt", ckpt)
    finally:
        os.umask(old)
    for p in (a, b):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(ckpt, tmp_path, monkeypatch):
    import torch

    def full(obj, f, *a, **k):  # what torch.save's zip writer raises on ENOSPC
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 938496")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match="disk full.*nothing was written"):
        save_rosinality(tmp_path / "x.pt", ckpt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "doc, extra",
    [
        ({"format": "zizi-checkpoint", "format_version": 1}, {}),  # no nets
        ({"format": "zizi-checkpoint", "format_version": "x", "nets": {}}, {}),
        (
            {
                "format": "zizi-checkpoint",
                "format_version": 1,
                "nets": {"G_ema": {"kind": "generator", "config": {"z_dimm": 3}}},
            },
            {},
        ),
        (
            {"format": "zizi-checkpoint", "format_version": 1, "nets": {}},
            {"a": {"dtype": "F32", "shape": [1]}},
        ),  # no data_offsets
    ],
)
def test_damaged_header_is_one_clear_error(tmp_path, doc, extra):
    import json
    import struct

    from zizi.io.checkpoint import read_header

    blob = json.dumps({"__metadata__": {"zizi": json.dumps(doc)}, **extra}).encode()
    path = tmp_path / "hand-edited.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    with pytest.raises(CheckpointError, match="header is damaged"):  # was: KeyError/TypeError
        read_header(path)
