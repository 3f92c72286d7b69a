"""A received prepared dataset is read only inside itself (#21 item 4): a link out of it
(an image, its images folder, manifest.json, dataset.json, report.json) is refused with one
line naming it, never read; a FIFO is refused, never waited on. Each of these read the
outside file or hung on main of 2026-12-06."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.messy import smooth_noise
from zizi.data.dataset import ImageDataset
from zizi.data.inspect import inspect_dataset
from zizi.data.prepare import PrepareConfig, prepare
from zizi.errors import DatasetError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX links and FIFOs")


@contextlib.contextmanager
def deadline(seconds: int = 20) -> Iterator[None]:
    """Fail (not hang) when the body waits on a FIFO: old code blocked in open() forever."""

    def hung(*_: object) -> None:
        raise TimeoutError(f"still waiting after {seconds} s (a FIFO was opened)")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("made")
    src = root / "src"
    src.mkdir()
    for i in range(3):
        smooth_noise(i, (24, 24)).save(src / f"p{i}.png")
    prepare(PrepareConfig(src=src, out=root / "ds", resolution=16, workers=1))
    return root / "ds"


@pytest.fixture
def received(made: Path, tmp_path: Path) -> Path:
    ds = tmp_path / "received"
    shutil.copytree(made, ds, symlinks=True)
    return ds


@pytest.fixture
def outside(tmp_path: Path, made: Path) -> Path:
    """A folder beside the dataset holding a 'secret' that is a valid image and JSON files
    (so that reading it would succeed and go unnoticed)."""
    out = tmp_path / "outside"
    out.mkdir()
    smooth_noise(99, (16, 16)).save(out / "secret.png")
    shutil.copytree(made / "00000", out / "images")
    shutil.copy(made / "manifest.json", out / "manifest.json")
    return out


def first(ds: Path) -> str:
    return json.loads((ds / "manifest.json").read_text())["images"][0]["file"]


def refused(e: pytest.ExceptionInfo, name: str, *words: str) -> None:
    msg = str(e.value)
    assert "\n" not in msg and name in msg and all(w in msg for w in words), msg


def test_a_sound_dataset_loads_whole_and_links_inside_it_are_fine(received: Path):
    ds = ImageDataset(received)
    assert len(ds) == 3 and ds.resolution == 16 and ds.warnings == []
    img, _ = ds[0]
    assert img.shape == (3, 16, 16) and -1 <= img.min() and img.max() <= 1
    name = first(received)
    (received / "copy.png").write_bytes((received / name).read_bytes())
    (received / name).unlink()
    (received / name).symlink_to(received / "copy.png")  # inside: still read
    assert torch.equal(ImageDataset(received)[0][0], img)


def test_an_image_linked_out_is_never_read(received: Path, outside: Path):
    name = first(received)
    (received / name).unlink()
    (received / name).symlink_to(outside / "secret.png")
    ds = ImageDataset(received)  # set aside at load, and named
    assert len(ds) == 2 and "outside the dataset" in ds.warnings[0] and name in ds.warnings[0]


def test_an_image_swapped_for_a_link_out_after_loading_is_refused(received: Path, outside: Path):
    ds = ImageDataset(received)
    name = ds.name(0)
    (received / name).unlink()
    (received / name).symlink_to(outside / "secret.png")  # was: the secret was trained on
    with pytest.raises(DatasetError) as e:
        ds[0]
    refused(e, name, "outside")


def test_an_images_folder_linked_out_is_refused_by_name(received: Path, outside: Path):
    shutil.rmtree(received / "00000")
    (received / "00000").symlink_to(outside / "images")
    with pytest.raises(DatasetError) as e:  # was: "holds no images", naming nothing
        ImageDataset(received)
    refused(e, "00000", "folder is a symlink leading outside the dataset")


def test_an_images_folder_swapped_out_after_loading_is_refused(received: Path, outside: Path):
    ds = ImageDataset(received)
    shutil.rmtree(received / "00000")
    (received / "00000").symlink_to(outside / "images")  # was: read from outside
    with pytest.raises(DatasetError) as e:
        ds[0]
    refused(e, "00000", "outside")


@pytest.mark.parametrize("member", ["manifest.json", "dataset.json"])
def test_a_json_file_linked_out_is_refused(received: Path, outside: Path, member: str):
    (received / member).unlink()
    (received / member).symlink_to(outside / "manifest.json")  # was: read and used
    with pytest.raises(DatasetError) as e:
        ImageDataset(received, use_labels=True)
    refused(e, member, "points outside")


def test_report_json_linked_out_is_refused_by_inspect(received: Path, outside: Path):
    (outside / "report.json").write_text(
        json.dumps({"skipped": [{"source": "ssh-key-line", "reason": "unreadable"}]})
    )
    (received / "report.json").unlink()
    (received / "report.json").symlink_to(outside / "report.json")
    with pytest.raises(DatasetError) as e:  # was: the outside file's entries were reported
        inspect_dataset(received)
    refused(e, "report.json", "points outside")


def test_a_fifo_image_is_refused_not_waited_on(received: Path):
    name = first(received)
    (received / name).unlink()
    os.mkfifo(received / name)
    with deadline():
        ds = ImageDataset(received)  # was: hung forever in open()
        assert len(ds) == 2 and "not a plain file" in ds.warnings[0]


def test_a_fifo_swapped_in_after_loading_is_refused_not_waited_on(received: Path):
    ds = ImageDataset(received)
    name = ds.name(0)
    (received / name).unlink()
    os.mkfifo(received / name)
    with deadline(), pytest.raises(DatasetError) as e:  # was: hung forever
        ds[0]
    refused(e, name, "not a plain file")


@pytest.mark.parametrize("member", ["manifest.json", "dataset.json", "report.json"])
def test_a_fifo_json_file_is_refused(received: Path, member: str):
    (received / member).unlink()
    os.mkfifo(received / member)
    with deadline(), pytest.raises(DatasetError) as e:
        if member == "report.json":
            inspect_dataset(received)
        else:
            ImageDataset(received, use_labels=True)
    refused(e, member, "not a plain file")


def test_a_dev_zero_link_is_refused_without_reading(received: Path):
    name = first(received)
    (received / name).unlink()
    (received / name).symlink_to("/dev/zero")
    ds = ImageDataset(received)
    assert len(ds) == 2 and name in ds.warnings[0]
    assert np.isfinite(ds[0][0].numpy()).all()
