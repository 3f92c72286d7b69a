"""Inception files from strangers (issue #21 items 1, 6 and the Inception part of 9).

A TorchScript archive is a program: `torch.jit.load` runs its `__setstate__`, and its
`forward` runs on every batch. The hostile files here are built by the test, and both
write into a file the user owns through `torch.from_file(path, shared=True)`. On the main
of 2026-12-05 `zizi metrics --inception evil.pt` exited 0 after writing.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.hostile import zip_bomb_inception
from tests.helpers.inception import persistence_pickle
from zizi.metrics.inception import (
    InceptionFileError,
    UntrustedTorchScriptError,
    load_inception,
)

VICTIM = b"export PATH=$HOME/bin:$PATH\n"


class Evil(torch.nn.Module):
    """Writes `self.target` when loaded (__setstate__) and on every call (forward)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.buf = torch.zeros(1)

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        self.buf = torch.from_file(self.target, shared=True, size=4, dtype=torch.uint8).fill_(66)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        t = torch.from_file(self.target, shared=True, size=8, dtype=torch.uint8).fill_(65)
        return torch.zeros(x.shape[0], 2048) + t.sum() * 0


class WrongSignature(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # no return_features
        return x.float().mean(dim=(2, 3))


@pytest.fixture
def victim(tmp_path) -> Path:
    v = tmp_path / "home" / ".bashrc"
    v.parent.mkdir()
    v.write_bytes(VICTIM)
    return v


def _evil_archive(victim: Path) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Evil(str(victim))), buf)
    victim.write_bytes(VICTIM)  # in case scripting touched it: the file as the user had it
    return buf.getvalue()


def _metrics(tiny_run, tiny_data, inc: Path, *more: str):
    run, _, _ = tiny_run
    ckpt = run / "frames" / "frame-000000008000.safetensors"
    return invoke(
        "metrics",
        ckpt,
        "--data",
        tiny_data,
        "--num",
        "4",
        "--metrics",
        "kid",
        "--inception",
        inc,
        *more,
    )


def test_the_hostile_file_really_writes_when_trusted(victim, tmp_path):
    """The attack is real: with the opt-in, loading and calling it writes the victim."""
    inc = tmp_path / "evil.pt"
    inc.write_bytes(_evil_archive(victim))
    det = load_inception(inc, allow_torchscript=True)
    assert victim.read_bytes()[:4] == b"BBBB"  # __setstate__ ran at load
    det(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    assert victim.read_bytes()[:8] == b"AAAAAAAA"  # forward ran on a batch


@pytest.mark.parametrize("name", ["evil.pt", "inception-2015-12-05.pkl"])
def test_a_hostile_torchscript_inception_writes_nothing(
    tiny_run, tiny_data, victim, tmp_path, name
):
    inc = tmp_path / name
    blob = _evil_archive(victim)
    inc.write_bytes(
        blob if name.endswith(".pt") else persistence_pickle({"_modules": {}, "script_bytes": blob})
    )
    r = _metrics(tiny_run, tiny_data, inc)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "--trust-torchscript" in r.output
    assert victim.read_bytes() == VICTIM
    with pytest.raises(UntrustedTorchScriptError):
        load_inception(inc)
    assert victim.read_bytes() == VICTIM


def test_torchscript_with_the_wrong_signature_is_one_line(tiny_run, tiny_data, tmp_path):
    inc = tmp_path / "wrong.pt"
    torch.jit.save(torch.jit.script(WrongSignature()), str(inc))
    r = _metrics(tiny_run, tiny_data, inc, "--trust-torchscript")
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "failed on a batch" in r.output


@pytest.mark.parametrize("wrap", [False, True])
def test_inception_zip_bombs_are_refused_before_inflating(tmp_path, wrap):
    bomb = zip_bomb_inception(tmp_path / "bomb.pt", 1 / 16)  # 64 MiB declared in ~64 KiB
    assert bomb.stat().st_size < 1 << 20
    if wrap:
        blob = bomb.read_bytes()
        bomb = tmp_path / "inception-2015-12-05.pkl"
        bomb.write_bytes(persistence_pickle({"_modules": {}, "script_bytes": blob}))
    with pytest.raises(InceptionFileError, match="zip bomb"):
        load_inception(bomb, allow_torchscript=True)  # refused even when trusted
