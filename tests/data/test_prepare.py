"""`prepare` on a messy folder: good images out, bad ones reported, source untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.messy import BAD, GOOD, smooth_noise, snapshot
from zizi.data.images import heif_available
from zizi.data.manifest import load_manifest
from zizi.data.prepare import PrepareConfig, prepare
from zizi.errors import DatasetError


def run(src: Path, out: Path, **kw) -> tuple:
    kw.setdefault("resolution", 64)
    result = prepare(PrepareConfig(src=src, out=out, **kw))
    return result, load_manifest(out), json.loads((out / "report.json").read_text("utf-8"))


def by_source(manifest) -> dict:
    return {r.source: r for r in manifest.images}


def test_messy_folder_good_out_bad_reported_source_untouched(messy: Path, tmp_path: Path):
    before = snapshot(messy)
    out = tmp_path / "ds"
    result, manifest, report = run(messy, out, workers=2)

    assert snapshot(messy) == before  # byte-identical, same mtimes, link intact
    assert sorted(by_source(manifest)) == sorted(GOOD)
    reasons = {s["source"]: s["reason"] for s in report["skipped"]}
    assert sorted(reasons) == sorted(BAD)
    for name, word in BAD.items():
        if name == "photo.heic" and heif_available():
            word = "corrupt"  # the plugin is there, and our fake HEIC is garbage
        assert word in reasons[name].lower(), (name, reasons[name])
    assert result.written == len(GOOD) == report["written"]

    # Numbering follows the sorted source paths, in ADA's layout.
    files = [r.file for r in manifest.images]
    assert files == [f"00000/img{i:08d}.png" for i in range(len(GOOD))]
    assert [r.source for r in manifest.images] == sorted(GOOD)
    assert json.loads((out / "dataset.json").read_text()) == {"labels": None}
    assert not (tmp_path / "ds.partial").exists()

    for rec in manifest.images:
        png = out / rec.file
        with Image.open(png) as im:
            assert im.size == (64, 64) and im.mode == "RGB"
            assert not im.getexif() and "icc_profile" not in im.info
            assert not (set(im.info) - {"dpi"}), im.info  # no text/XMP/EXIF chunks
        raw = png.read_bytes()
        for marker in (b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"iCCP", b"GPS", b"PhoneMaker"):
            assert marker not in raw
        import hashlib

        assert hashlib.sha256(raw).hexdigest() == rec.sha256
        src_bytes = (messy / rec.source).read_bytes()
        assert hashlib.sha256(src_bytes).hexdigest() == rec.source_sha256


def test_orientation_alpha_cmyk_16bit_gif(messy: Path, tmp_path: Path):
    _, manifest, _ = run(messy, tmp_path / "ds", workers=1)
    recs = by_source(manifest)

    def load(name: str) -> np.ndarray:
        return np.asarray(Image.open(tmp_path / "ds" / recs[name].file)).astype(int)

    rot = load("rotated_gps.jpg")  # upright: red on top, blue below
    assert recs["rotated_gps.jpg"].transform["exif_orientation"] is True
    assert recs["rotated_gps.jpg"].source_size == (120, 80)
    top, bottom = rot[:24].mean((0, 1)), rot[-24:].mean((0, 1))
    assert top[0] > 180 and top[2] < 60, top
    assert bottom[2] > 180 and bottom[0] < 60, bottom

    alpha = load("alpha.png")  # transparent left half composited on white
    assert (alpha[:, :28] >= 250).all()
    assert recs["alpha.png"].transform["alpha_background"] == [255, 255, 255]
    assert alpha[:, 40:].mean() < 230

    deep = load("deep16.png")  # 16-bit grey scaled, not clipped to white
    assert deep[0, 0].max() < 30 and deep[-1, -1].min() > 225
    assert np.ptp(deep[..., 0]) > 200 and (deep[..., 0] == deep[..., 2]).all()

    cmyk_src = np.asarray(smooth_noise(1, (90, 90)).resize((64, 64)), dtype=int)
    assert np.abs(load("cmyk.jpg") - cmyk_src).mean() < 20  # colours survive CMYK

    gif = load("anim.gif")  # first frame
    first = np.asarray(smooth_noise(10, (64, 64)), dtype=int)
    second = np.asarray(smooth_noise(11, (64, 64)), dtype=int)
    assert np.abs(gif - first).mean() < np.abs(gif - second).mean() / 3


def test_dedupe_exact_and_near(messy: Path, tmp_path: Path):
    _, manifest, report = run(messy, tmp_path / "ds", dedupe=True, workers=2)
    sources = set(by_source(manifest))
    assert "rgb.png" not in sources or "dup_of_rgb.bmp" not in sources
    reasons = {s["source"]: s for s in report["skipped"]}
    # Sorted order: dup_of_rgb.bmp comes first, so it is kept and the others point to it.
    assert reasons["rgb.png"]["duplicate_of"] == "dup_of_rgb.bmp"
    assert "identical pixels" in reasons["rgb.png"]["reason"]
    assert reasons["near_of_rgb.jpg"]["duplicate_of"] == "dup_of_rgb.bmp"
    assert "near duplicate" in reasons["near_of_rgb.jpg"]["reason"]
    assert len(manifest.images) == len(GOOD) - 2


def test_mirror_credits_and_pad(messy: Path, tmp_path: Path):
    credits = tmp_path / "credits.csv"
    credits.write_text(
        "source,credit,license,consent,label\n"
        "rgb.png,Photo by Ada,CC BY 4.0,yes,1\n"
        "sub/nested.png,Nested Person,all rights reserved,workshop form 12,0\n",
        encoding="utf-8",
    )
    _, manifest, _ = run(
        messy, tmp_path / "ds", mirror=True, credits=credits, align="pad", workers=1
    )
    assert len(manifest.images) == 2 * len(GOOD)
    recs = [r for r in manifest.images if r.source == "rgb.png"]
    assert [r.transform.get("mirror", False) for r in recs] == [False, True]
    assert recs[0].credit == "Photo by Ada" and recs[0].licence == "CC BY 4.0"
    assert recs[0].consent == "yes" and recs[0].label == 1
    a = np.asarray(Image.open(tmp_path / "ds" / recs[0].file))
    b = np.asarray(Image.open(tmp_path / "ds" / recs[1].file))
    assert (a[:, ::-1] == b).all()
    # pad: 96×80 fits as 64×53 with background bars above and below
    assert (a[:4] == 255).all() and (a[-4:] == 255).all() and (a[30] != 255).any()
    nested = [r for r in manifest.images if r.source == "sub/nested.png"][0]
    assert nested.licence == "all rights reserved" and nested.consent == "workshop form 12"


def test_refuses_src_and_nonempty_out(messy: Path, tmp_path: Path):
    before = snapshot(messy)
    with pytest.raises(DatasetError, match="source folder"):
        prepare(PrepareConfig(src=messy, out=messy / "out", resolution=64))
    with pytest.raises(DatasetError, match="source folder"):
        prepare(PrepareConfig(src=messy, out=messy, resolution=64))
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="--force"):
        prepare(PrepareConfig(src=messy, out=out, resolution=64))
    assert (out / "keep.txt").read_text() == "mine"
    # --force replaces only an earlier dataset, never a folder of other files (issue #21)
    with pytest.raises(DatasetError, match="not an earlier dataset"):
        prepare(PrepareConfig(src=messy, out=out, resolution=64, force=True, workers=1))
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=1))
    (out / "stale.txt").write_text("left by the earlier dataset's owner")
    prepare(PrepareConfig(src=messy, out=out, resolution=64, force=True, workers=1))
    assert not (out / "stale.txt").exists() and (out / "manifest.json").exists()
    assert snapshot(messy) == before
    with pytest.raises(DatasetError, match="power of two"):
        PrepareConfig(src=messy, out=out, resolution=100)


def test_stale_partial_is_replaced_and_numbering_is_deterministic(messy: Path, tmp_path: Path):
    (tmp_path / "a.partial").mkdir()
    (tmp_path / "a.partial" / "junk.png").write_bytes(b"x")
    run(messy, tmp_path / "a", workers=2)
    run(messy, tmp_path / "b", workers=1)
    a = load_manifest(tmp_path / "a")
    b = load_manifest(tmp_path / "b")
    assert [(r.file, r.source, r.sha256) for r in a.images] == [
        (r.file, r.source, r.sha256) for r in b.images
    ]
    assert not (tmp_path / "a" / "junk.png").exists()


def test_center_and_none_framing(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    arr = np.zeros((64, 128, 3), np.uint8)
    arr[:, 32:96] = 255  # white centre square between black side bands
    Image.fromarray(arr).save(src / "wide.png")
    smooth_noise(3, (80, 80)).save(src / "square.png")
    _, manifest, report = run(src, tmp_path / "c", resolution=32, workers=1)
    wide = np.asarray(Image.open(tmp_path / "c" / by_source(manifest)["wide.png"].file))
    assert wide.min() >= 250  # centre crop is exactly the white square
    _, manifest, report = run(src, tmp_path / "n", resolution=32, align="none", workers=1)
    assert list(by_source(manifest)) == ["square.png"]
    assert "not square" in report["skipped"][0]["reason"]


def test_explicit_pixel_limit_and_unexpected_errors(tmp_path: Path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    smooth_noise(0, (120, 100)).save(src / "big.png")
    smooth_noise(1, (60, 60)).save(src / "ok.png")
    smooth_noise(2, (60, 60)).save(src / "weird.png")
    r = prepare(
        PrepareConfig(src=src, out=tmp_path / "a", resolution=32, max_pixels=10_000, workers=1)
    )
    assert [(s.source, s.reason.split(":")[0]) for s in r.skipped] == [
        ("big.png", "decompression bomb")
    ]
    assert "12,000 pixels" in r.skipped[0].reason

    import zizi.data.prepare as prep

    real = prep.decode

    def flaky(data, **kw):  # data: the open source file (decoded as a stream)
        if Path(data.name).name == "weird.png":
            raise RuntimeError("decoder bug")
        return real(data, **kw)

    monkeypatch.setattr(prep, "decode", flaky)
    r = prepare(PrepareConfig(src=src, out=tmp_path / "b", resolution=32, workers=1))
    assert r.written == 2
    assert [(s.source, s.reason) for s in r.skipped] == [
        ("weird.png", "could not process: RuntimeError: decoder bug")
    ]


def test_interrupted_run_never_looks_complete(messy: Path, tmp_path: Path):
    out = tmp_path / "ds"

    def stop(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=2), progress=stop)
    assert not out.exists()  # only the .partial folder, which the next run replaces
    assert (tmp_path / "ds.partial").is_dir()
    prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=2))
    assert (out / "manifest.json").is_file() and not (tmp_path / "ds.partial").exists()


def test_full_disk_fails_the_run_and_leaves_nothing(messy: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "ds"
    prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=1))
    before = snapshot(out)
    real = Path.write_bytes

    def full(self, data):  # the output disk fills up after the first image
        if self.suffix == ".png" and any(self.parent.glob("*.png")):
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DatasetError, match="No space left on device; nothing was written"):
        prepare(PrepareConfig(src=messy, out=out, resolution=64, workers=1, force=True))
    # was: every later image "skipped: could not process: OSError", and a short dataset
    assert snapshot(out) == before  # the earlier dataset is kept as it was
    assert not (tmp_path / "ds.partial").exists()


def test_out_that_cannot_be_created_is_one_clear_error(messy: Path, tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="could not write the dataset"):
        prepare(PrepareConfig(src=messy, out=tmp_path / "notes.txt" / "ds", resolution=64))


def test_force_never_replaces_a_file_or_the_current_folder(
    messy: Path, tmp_path: Path, monkeypatch
):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="is a file"):
        prepare(PrepareConfig(src=messy, out=tmp_path / "notes.txt", resolution=64, force=True))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "keep.txt").write_text("mine")
    monkeypatch.chdir(work / "sub")
    for out in (work / "sub", work):
        with pytest.raises(DatasetError, match="current folder"):
            prepare(PrepareConfig(src=messy, out=out, resolution=64, force=True))
    assert (work / "sub" / "keep.txt").read_text() == "mine"


def test_nothing_usable_is_an_error_not_an_empty_dataset(messy: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no files found"):
        prepare(PrepareConfig(src=tmp_path / "empty", out=tmp_path / "a", resolution=64))
    with pytest.raises(DatasetError, match=r"none of the \d+ files .*too small ×"):
        prepare(PrepareConfig(src=messy, out=tmp_path / "b", resolution=4096, workers=1))
    assert not list(tmp_path.glob("[ab]*"))


def test_credits_csv_not_utf8_is_one_clear_error(messy: Path, tmp_path: Path):
    csv = tmp_path / "credits.csv"
    csv.write_bytes("source,credit\nrgb.png,Zo\xeb\n".encode("cp1252"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        prepare(PrepareConfig(src=messy, out=tmp_path / "ds", resolution=64, credits=csv))


def test_an_s2a_dataset_json_keeps_its_labels(tmp_path: Path):
    # S2A's dataset_tool layout: numbered folders and a dataset.json of [name, class]
    src = tmp_path / "s2a"
    labels = []
    for i in range(4):
        name = f"00000/img{i:08d}.png"
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        smooth_noise(i, (64, 64)).save(src / name)
        labels.append([name, i % 3])
    (src / "dataset.json").write_text(json.dumps({"labels": labels}))
    _, manifest, _ = run(src, tmp_path / "ds", workers=1)
    assert {r.source: r.label for r in manifest.images} == {n: c for n, c in labels}
    written = json.loads((tmp_path / "ds" / "dataset.json").read_text())["labels"]
    assert sorted(c for _, c in written) == sorted(c for _, c in labels)

    (src / "dataset.json").write_text(json.dumps({"labels": [["00000/img00000000.png", 0.5]]}))
    with pytest.raises(DatasetError, match="only class labels"):
        run(src, tmp_path / "ds2", workers=1)
