"""Fixtures for the trainer tests: a tiny 16² network's checkpoint, a dataset, a config
(the factories behind them live in tests/helpers/tiny.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny import TINY_SETTINGS, make_checkpoint, make_images
from zizi.train.config import resolve_config


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("data") / "faces")


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "base.safetensors")


@pytest.fixture
def tiny_cfg():
    return resolve_config(assignments=TINY_SETTINGS)


@pytest.fixture(autouse=True)
def _one_thread():
    # bit-identity across runs and a fair share of a small shared CPU
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
