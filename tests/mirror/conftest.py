"""Fixtures for the mirror tests: tiny 16² base and shifted checkpoints and a photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoder")
    base, shifted = root / "base.safetensors", root / "shifted.safetensors"
    save_checkpoint(base, tiny_checkpoint(16, seed=0))
    save_checkpoint(shifted, tiny_checkpoint(16, seed=10))
    photo = root / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    return {"base": base, "shifted": shifted, "photo": photo, "root": root}
