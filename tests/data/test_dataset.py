"""The training Dataset over prepared folders, plain folders and ADA zips."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.data.messy import smooth_noise
from zizi.data.dataset import ImageDataset
from zizi.data.prepare import PrepareConfig, prepare
from zizi.errors import DatasetError


def make_ada_zip(path: Path, n: int = 5, res: int = 16, labels: bool = True) -> list[np.ndarray]:
    arrays = []
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            arr = np.array(smooth_noise(i, (res, res)))
            arrays.append(arr)
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "PNG")
            z.writestr(f"00000/img{i:08d}.png", buf.getvalue())
        if labels:
            lab = [[f"00000/img{i:08d}.png", i % 3] for i in range(n)]
            z.writestr("dataset.json", json.dumps({"labels": lab}))
    return arrays


def test_ada_zip_labels_range_and_flip(tmp_path: Path):
    arrays = make_ada_zip(tmp_path / "ds.zip")
    ds = ImageDataset(tmp_path / "ds.zip", use_labels=True, xflip=True)
    assert len(ds) == 10 and ds.resolution == 16 and ds.label_dim == 3
    img, label = ds[1]
    assert img.shape == (3, 16, 16) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1
    expected = torch.from_numpy(arrays[1]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(img, expected)
    assert label.tolist() == [0, 1, 0]
    flipped, _ = ds[5 + 1]
    assert torch.equal(flipped, img.flip(-1))
    # Survives pickling for DataLoader workers (the zip handle is reopened).
    ds2 = pickle.loads(pickle.dumps(ds))
    assert torch.equal(ds2[1][0], img)
    assert ImageDataset(tmp_path / "ds.zip").label_dim == 0


def test_max_size_is_seeded(tmp_path: Path):
    make_ada_zip(tmp_path / "ds.zip", n=8, labels=False)
    a = ImageDataset(tmp_path / "ds.zip", max_size=4, seed=1)
    b = ImageDataset(tmp_path / "ds.zip", max_size=4, seed=1)
    c = ImageDataset(tmp_path / "ds.zip", max_size=4, seed=2)
    names = lambda d: [d.name(i) for i in range(len(d))]  # noqa: E731
    assert len(a) == 4 and names(a) == names(b) and names(a) != names(c)


def test_prepared_and_plain_folders(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        smooth_noise(i, (40, 40)).save(src / f"{i}.png")
    credits = tmp_path / "c.csv"
    credits.write_text("source,label\n0.png,0\n1.png,1\n2.png,1\n")
    prepare(PrepareConfig(src=src, out=tmp_path / "ds", resolution=32, credits=credits, workers=1))
    ds = ImageDataset(tmp_path / "ds", resolution=32, use_labels=True)
    assert len(ds) == 3 and ds.label_dim == 2 and ds[2][1].tolist() == [0, 1]
    with pytest.raises(DatasetError, match="--resolution 64"):
        ImageDataset(tmp_path / "ds", resolution=64)

    plain = tmp_path / "plain"
    (plain / "a").mkdir(parents=True)
    smooth_noise(0, (32, 32)).save(plain / "a" / "x.png")
    smooth_noise(1, (32, 32)).save(plain / "y.jpg")
    (plain / "notes.txt").write_text("hi")
    ds = ImageDataset(plain)
    assert len(ds) == 2 and ds.name(0) == "a/x.png" and ds[1][0].shape == (3, 32, 32)
    smooth_noise(2, (16, 16)).save(plain / "z.png")
    with pytest.raises(DatasetError, match="zizi dataset prepare"):
        ImageDataset(plain)[2]
    with pytest.raises(DatasetError, match="no images"):
        (tmp_path / "empty").mkdir()
        ImageDataset(tmp_path / "empty")
