"""A zizi (safetensors) file is recognised whatever its header length's first byte is."""

from __future__ import annotations

import json

import pytest

from zizi.io.importers import detect_format


@pytest.mark.parametrize("length", [0x7C80, 0x4B50, 0x0280, 300])
def test_safetensors_header_length_never_looks_like_a_pickle_or_zip(tmp_path, length):
    # 0x..80 starts with the pickle PROTO byte, 0x4b50 with "PK" (a zip): both were misread.
    meta = json.dumps({"__metadata__": {"pad": ""}})
    header = meta[:-2] + " " * (length - len(meta)) + "}}"
    assert len(header) == length
    path = tmp_path / "x.safetensors"
    path.write_bytes(length.to_bytes(8, "little") + header.encode())
    assert detect_format(path) == "zizi"


def test_a_pickle_is_still_a_pickle(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    assert detect_format(path) == "nvlabs"
