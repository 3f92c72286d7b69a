"""Checkpoint format 2: training-state namespaces, the train header, the checksum.

v1 still loads.
"""

import json
import struct

import pytest
import torch

from tests.helpers.tiny import tiny_checkpoint
from zizi.errors import CheckpointError
from zizi.io.checkpoint import (
    build_discriminator,
    build_generator,
    load_checkpoint,
    read_header,
    save_checkpoint,
    verify_checkpoint,
)


def test_state_and_train_section_round_trip(tmp_path):
    ck = tiny_checkpoint(8)
    ck.state = {
        "opt_G": {
            "mapping.fc0.weight.exp_avg": torch.randn(3, 4),
            "mapping.fc0.weight.step": torch.tensor(5.0),
        },
        "rng": {"torch_cpu": torch.get_rng_state()},
    }
    ck.train = {"nimg": 1234, "step": 7, "pl_mean": 0.25, "config": {"batch": 4}}
    path = save_checkpoint(tmp_path / "s.safetensors", ck)
    back = load_checkpoint(path, verify=True)
    assert back.train == ck.train
    for ns, sd in ck.state.items():
        for k, v in sd.items():
            assert torch.equal(back.state[ns][k], v)
    assert read_header(path)["format_version"] == 2
    # a net picked out of a snapshot comes without the training state
    only = load_checkpoint(path, nets=["G_ema"])
    assert only.state == {} and only.train is None


def test_checksum_detects_a_flipped_byte(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", tiny_checkpoint(8))
    verify_checkpoint(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged"):
        verify_checkpoint(path)
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, verify=True)


def test_version_1_files_still_load(tmp_path):
    path = save_checkpoint(tmp_path / "v2.safetensors", tiny_checkpoint(8))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    doc = json.loads(header["__metadata__"]["zizi"])
    for key in ("state", "train", "checksum"):
        doc.pop(key)
    doc["format_version"] = 1
    header["__metadata__"]["zizi"] = json.dumps(doc)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    v1 = tmp_path / "v1.safetensors"
    v1.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n :])
    ck = load_checkpoint(v1, verify=True)  # no checksum: only the length is checked
    assert ck.train is None and ck.state == {}
    assert set(ck.tensors) == {"G_ema", "G", "D"}


def test_unknown_state_namespace_is_refused(tmp_path):
    ck = tiny_checkpoint(8)
    ck.state = {"opt_X": {"a": torch.zeros(1)}}
    with pytest.raises(CheckpointError, match="unknown state namespace"):
        save_checkpoint(tmp_path / "x.safetensors", ck)


def test_trainable_option():
    ck = tiny_checkpoint(8)
    frozen = build_generator(ck)
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    G = build_generator(ck, "G", trainable=True)
    D = build_discriminator(ck, trainable=True)
    assert G.training and D.training
    assert all(p.requires_grad for p in G.parameters()) and all(
        p.requires_grad for p in D.parameters()
    )
