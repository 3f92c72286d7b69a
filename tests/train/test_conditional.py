"""Conditional training: fake labels come from the dataset's label distribution, as in
StyleGAN2-ADA, not from the real minibatch."""

from __future__ import annotations

import json

import torch

from tests.helpers.tiny import TINY_SETTINGS, make_checkpoint, make_images, tiny_nets
from zizi.data.dataset import ImageDataset
from zizi.io.checkpoint import load_checkpoint
from zizi.train.config import resolve_config
from zizi.train.step import train_step
from zizi.train.trainer import Trainer


def test_fake_labels_are_drawn_from_the_dataset_not_the_real_batch(tmp_path):
    g, d = tiny_nets(c_dim=3)
    ckpt = make_checkpoint(tmp_path / "cond.safetensors", g, d)
    data = make_images(tmp_path / "data", n=8)
    names = sorted(p.relative_to(data).as_posix() for p in data.glob("*.png"))
    # seven of class 2, one of class 1: the distribution fakes must follow
    (data / "dataset.json").write_text(
        json.dumps({"labels": [[n, 1 if i == 0 else 2] for i, n in enumerate(names)]})
    )
    ds = ImageDataset(data, use_labels=True)
    assert ds.label_table().argmax(1).tolist() == [1] + [2] * 7

    t = Trainer(
        load_checkpoint(ckpt), resolve_config(assignments=TINY_SETTINGS), torch.device("cpu")
    )
    t.set_label_pool(ds)
    seen: list[torch.Tensor] = []
    forward = t.G.mapping.forward

    def recording(z, c, *a, **kw):
        seen.append(c.detach().clone())
        return forward(z, c, *a, **kw)

    t.G.mapping.forward = recording
    reals = torch.zeros([4, 3, 16, 16])
    real_labels = torch.eye(3)[[0, 0, 0, 0]]  # class 0: never in the dataset's labels
    for _ in range(24):
        train_step(t, reals, real_labels)
    classes = torch.cat(seen).argmax(1)
    assert not (classes == 0).any(), "fakes were given the real batch's labels"
    share = float((classes == 1).float().mean())
    assert 0.05 < share < 0.25, share  # ~1/8 of the fakes are class 1, as in the dataset
