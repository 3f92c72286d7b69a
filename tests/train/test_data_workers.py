"""More DataLoader workers than CPUs are capped: no torch warning, the same minibatches."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from zizi.data.dataset import ImageDataset
from zizi.train import data as train_data


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_workers_beyond_the_cpus_are_capped(tiny_data, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # a one-CPU machine
    assert train_data.usable_workers(3) == 1
    assert train_data.usable_workers(0) == 0
    dataset = ImageDataset(tiny_data)
    plain = next(train_data.batches(dataset, 4, seed=0, start=0, workers=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "excessive worker creation" UserWarning
        capped = next(train_data.batches(dataset, 4, seed=0, start=0, workers=3))
    assert torch.equal(plain[0], capped[0]) and torch.equal(plain[1], capped[1])
