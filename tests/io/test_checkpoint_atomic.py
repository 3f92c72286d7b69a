"""save_checkpoint is atomic: a write that fails midway keeps the old file and leaves no temp."""

import pytest

import zizi.io.checkpoint as checkpoint_mod
from tests.helpers.tiny import tiny_checkpoint
from zizi.errors import CheckpointError
from zizi.io.checkpoint import load_checkpoint, save_checkpoint


class _DiskFull:
    """A file whose writes fail once `limit` bytes have gone through (ENOSPC midway)."""

    def __init__(self, f, limit: int) -> None:
        self.f, self.left = f, limit

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) >= self.left:
            self.f.write(data[: self.left])
            self.left = 0
            raise OSError(28, "No space left on device")
        self.left -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("limit", [0, 100, 5000])
def test_failed_write_keeps_previous_checkpoint_and_no_temp(tmp_path, monkeypatch, limit):
    path = tmp_path / "model.safetensors"
    old = tiny_checkpoint(8, seed=0)
    save_checkpoint(path, old)
    before = path.read_bytes()

    real = checkpoint_mod._write_safetensors
    monkeypatch.setattr(
        checkpoint_mod, "_write_safetensors", lambda f, *rest: real(_DiskFull(f, limit), *rest)
    )
    with pytest.raises(CheckpointError, match="space"):
        save_checkpoint(path, tiny_checkpoint(8, seed=1))

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    again = load_checkpoint(path)
    for net, sd in old.tensors.items():
        for k, t in sd.items():
            assert (again.tensors[net][k] == t).all()


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    real = checkpoint_mod._write_safetensors
    monkeypatch.setattr(
        checkpoint_mod, "_write_safetensors", lambda f, *rest: real(_DiskFull(f, 1000), *rest)
    )
    with pytest.raises(CheckpointError, match="space"):
        save_checkpoint(tmp_path / "new.safetensors", tiny_checkpoint(8))
    assert list(tmp_path.iterdir()) == []
