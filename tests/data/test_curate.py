"""inspect, remove (opt-out) and contains on a prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.messy import BAD, GOOD, smooth_noise
from zizi.data.dataset import ImageDataset
from zizi.data.inspect import inspect_dataset
from zizi.data.manifest import load_manifest
from zizi.data.optout import find, remove
from zizi.data.prepare import PrepareConfig, prepare


@pytest.fixture
def prepared(messy: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=1))
    return out


def test_inspect_counts_skips_duplicates_colour_and_sheets(prepared: Path, tmp_path: Path):
    s = inspect_dataset(prepared, sheet_dir=tmp_path / "sheets", per_page=6, thumb=32)
    assert s.images == s.sources == len(GOOD) and s.sizes == {"64×64": len(GOOD)}
    assert sorted(x["source"] for x in s.skipped) == sorted(BAD)
    assert s.skip_reasons["truncated"] == 1 and s.skip_reasons["symlink loop"] == 1
    # rgb.png, its BMP copy and its JPEG re-save are one group.
    assert len(s.duplicate_groups) == 1
    assert sorted(g.split(" (")[1][:-1] for g in s.duplicate_groups[0]) == [
        "dup_of_rgb.bmp",
        "near_of_rgb.jpg",
        "rgb.png",
    ]
    c = s.colour
    assert 0 < c.mean_luma < 255 and c.greyscale_images == 1  # the 16-bit grey PNG
    assert all(0 < v < 255 for v in c.mean_rgb)
    # 13 images at 6 per page -> 3 pages; first page is a 3×2 grid of 32² thumbnails.
    assert [p.name for p in s.contact_sheets] == [f"contact-00{i}.png" for i in range(3)]
    sheet = np.asarray(Image.open(s.contact_sheets[0]))
    assert sheet.shape == (2 * (32 + 14 + 4) + 4, 3 * 36 + 4, 3)
    # The first thumbnail is the alpha image: left part white (composited background).
    assert (sheet[6:34, 5:18] > 240).all()


def test_inspect_plain_folder(tmp_path: Path):
    for i in range(3):
        smooth_noise(i, (32, 32)).save(tmp_path / f"{i}.png")
    smooth_noise(0, (32, 32)).save(tmp_path / "copy.png")
    s = inspect_dataset(tmp_path, sheet_dir=None)
    assert s.images == 4 and s.sources is None and s.contact_sheets == []
    assert s.duplicate_groups == [["0.png", "copy.png"]]


def test_inspect_unreadable_image_or_sheet_folder_is_one_clear_error(
    prepared: Path, tmp_path: Path
):
    from zizi.errors import DatasetError, ZiziError

    plain = tmp_path / "plain"
    plain.mkdir()
    smooth_noise(0, (32, 32)).save(plain / "a.png")
    (plain / "notes.jpg").write_text("not a photo")
    with pytest.raises(DatasetError, match="notes.jpg cannot be read.*zizi dataset prepare"):
        inspect_dataset(plain)  # was: PIL.UnidentifiedImageError traceback
    first = load_manifest(prepared).images[0].file
    (prepared / first).unlink()  # an image deleted by hand
    with pytest.raises(DatasetError, match="cannot be read"):
        inspect_dataset(prepared)
    (tmp_path / "notes.txt").write_text("mine")
    smooth_noise(1, (32, 32)).save(plain / "notes.jpg")
    with pytest.raises(ZiziError, match="cannot write into"):
        inspect_dataset(plain, sheet_dir=tmp_path / "notes.txt" / "sheets")


def test_remove_by_name_and_photo_records_it(prepared: Path, messy: Path):
    before = len(load_manifest(prepared).images)
    # A participant sends a phone re-save of their photo, smaller and recompressed.
    resaved = messy.parent / "mine.jpg"
    Image.open(messy / "img.webp").resize((50, 50)).save(resaved, quality=70)
    matches = find(prepared, str(resaved))
    assert [m.source for m in matches] == ["img.webp"]

    r = remove(prepared, ["sub/*", str(resaved), "nobody.png"])
    removed = r.removed
    assert sorted(m.source for m in removed) == ["img.webp", "sub/nested.png"]
    assert r.unmatched == ["nobody.png"]
    m = load_manifest(prepared)
    assert len(m.images) == before - 2
    assert {r["source"] for r in m.removed} == {"img.webp", "sub/nested.png"}
    assert all(r["reason"] == "opt-out" and r["removed_at"] for r in m.removed)
    for r in removed:
        assert not (prepared / r.file).exists()
    # The training dataset no longer sees them, and labels file stays consistent.
    ds = ImageDataset(prepared)
    assert len(ds) == before - 2
    assert json.loads((prepared / "dataset.json").read_text()) == {"labels": None}
    # Unrelated photos do not match.
    other = messy.parent / "other.png"
    smooth_noise(99, (80, 80)).save(other)
    assert find(prepared, str(other)) == []


def test_remove_dry_run_changes_nothing(prepared: Path):
    manifest_before = (prepared / "manifest.json").read_bytes()
    removed = remove(prepared, ["rgb.png"], dry_run=True).removed
    # rgb.png, and the same picture kept twice more without --dedupe (its BMP copy and
    # its JPEG re-save), all go: an opt-out removes the picture, not one file of it.
    assert sorted(m.source for m in removed) == ["dup_of_rgb.bmp", "near_of_rgb.jpg", "rgb.png"]
    assert (prepared / "manifest.json").read_bytes() == manifest_before
    assert (prepared / removed[0].file).exists()
