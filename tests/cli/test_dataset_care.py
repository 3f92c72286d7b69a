"""Care for the people in the data (issue #11): an opt-out that can't miss, `contains`
exit codes, framing said out loud, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.messy import build_messy_folder, smooth_noise
from tests.helpers.cli import invoke


@pytest.fixture
def deduped(tmp_path: Path) -> Path:
    src = build_messy_folder(tmp_path / "photos")
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "64",
        "--dedupe",
        "--workers",
        "1",
    )
    assert r.exit_code == 0 and "skipped rgb.png: duplicate of dup_of_rgb.bmp" in r.output
    return tmp_path / "ds"


def test_removing_a_skipped_duplicates_source_removes_the_picture(deduped: Path):
    photos = deduped.parent / "photos"
    assert invoke("dataset", "contains", deduped, photos / "rgb.png").exit_code == 0
    r = invoke("dataset", "remove", deduped, "rgb.png", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "source dup_of_rgb.bmp; matched by rgb.png was skipped as its duplicate" in r.output
    assert "1 image would be removed" in r.output
    r = invoke("dataset", "remove", deduped, "rgb.png")
    assert r.exit_code == 0 and "1 image removed" in r.output, r.output
    log = json.loads((deduped / "manifest.json").read_text())["removed"]
    assert [(e["source"], e["matched_by"]) for e in log] == [
        ("dup_of_rgb.bmp", "rgb.png was skipped as its duplicate")
    ]
    for copy in ("rgb.png", "dup_of_rgb.bmp", "near_of_rgb.jpg"):
        r = invoke("dataset", "contains", deduped, photos / copy)
        assert r.exit_code == 1 and r.output.startswith("no"), (copy, r.output)


def test_removing_by_photo_or_glob_takes_near_duplicates_in_the_set(tmp_path: Path):
    src = build_messy_folder(tmp_path / "photos")
    ds = tmp_path / "ds"
    assert (
        invoke(
            "dataset", "prepare", src, "--out", ds, "--resolution", "64", "--workers", "1"
        ).exit_code
        == 0
    )  # no --dedupe: three copies stay in the set
    r = invoke("dataset", "remove", ds, src / "rgb.png", "--dry-run")  # by photo
    assert r.exit_code == 0 and "3 images would be removed" in r.output, r.output
    r = invoke("dataset", "remove", ds, "near_*.jpg")
    assert r.exit_code == 0 and "3 images removed" in r.output, r.output
    assert "near duplicate of" in r.output and "same source bytes" not in r.output
    log = json.loads((ds / "manifest.json").read_text())["removed"]
    assert sorted(e["source"] for e in log) == ["dup_of_rgb.bmp", "near_of_rgb.jpg", "rgb.png"]
    assert invoke("dataset", "contains", ds, src / "rgb.png").exit_code == 1
    # Unrelated pictures stay.
    assert invoke("dataset", "contains", ds, src / "img.webp").exit_code == 0


def test_contains_exit_codes_are_yes_no_error_and_documented(deduped: Path, tmp_path: Path):
    photos = deduped.parent / "photos"
    other = tmp_path / "other.png"
    smooth_noise(77, (64, 64)).save(other)
    assert invoke("dataset", "contains", deduped, photos / "img.webp").exit_code == 0
    assert invoke("dataset", "contains", deduped, other).exit_code == 1
    for bad in (photos / "truncated.jpg", photos / "notes.txt", tmp_path / "missing.jpg"):
        r = invoke("dataset", "contains", deduped, bad)
        assert r.exit_code == 2 and "Traceback" not in r.output, (bad, r.output)
    r = invoke("dataset", "contains", tmp_path / "nowhere", other)
    assert r.exit_code == 2
    r = invoke("dataset", "contains", photos, other)  # a folder without a manifest
    assert r.exit_code == 2 and "manifest.json" in r.output
    help_text = " ".join(invoke("dataset", "contains", "--help").output.split())
    for line in ("0 yes", "1 no", "2 error"):
        assert line in help_text.replace(":", ""), help_text


def _needs_faces() -> None:
    pytest.importorskip("dlib", reason="needs the zizi[faces] extra (dlib-bin)")
    from zizi.data.align import faces_available

    if not faces_available():
        pytest.skip("face_recognition_models missing")


def test_face_or_center_fallback_is_counted_everywhere(tmp_path: Path):
    _needs_faces()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        smooth_noise(i, (80, 80)).save(src / f"noface{i}.png")  # no face in smooth noise
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "32",
        "--align",
        "face-or-center",
        "--workers",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert "5 images written" in r.output and "5 centre-cropped (no usable face)" in r.output
    # summarised by reason (a count and a few names), not one line per file
    assert (
        "centre-cropped 5 (no face found): noface0.png, noface1.png, noface2.png and 2 more"
    ) in r.output
    assert "noface4.png" not in r.output and "every file and its reason: " in r.output
    report = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert report["fallback_count"] == 5
    assert [f["source"] for f in report["fallback"]] == [f"noface{i}.png" for i in range(5)]
    r = invoke("dataset", "inspect", tmp_path / "ds", "--no-sheets")
    assert "centre-cropped (no usable face): 5" in r.output and "framing: center ×5" in r.output
    # listed by the person's own file names, not the prepared ones
    assert "5 (no face found): noface0.png, noface1.png, noface2.png and 2 more" in r.output


def test_too_small_for_min_face_is_reported_as_too_small(tmp_path: Path):
    _needs_faces()
    src = tmp_path / "src"
    src.mkdir()
    smooth_noise(0, (40, 40)).save(src / "small.png")
    smooth_noise(1, (120, 120)).save(src / "big.png")
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "32",
        "--align",
        "face",
        "--min-face",
        "64",
        "--min-size",
        "8",
        "--workers",
        "1",
    )
    assert r.exit_code == 1
    assert "too small ×1" in r.output and "no face found ×1" in r.output, r.output


def test_many_skipped_files_are_listed_up_to_a_dozen_then_counted(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    smooth_noise(0, (80, 80)).save(src / "ok.png")
    for i in range(20):
        (src / f"note{i:02d}.png").write_text("not a picture")
    r = invoke(
        "dataset", "prepare", src, "--out", tmp_path / "ds", "--resolution", "32", "--workers", "1"
    )
    assert r.exit_code == 0, r.output
    assert "20 skipped" in r.output
    listed = [line for line in r.output.splitlines() if line.startswith("  skipped ")]
    assert len(listed) == 12 and "  ... and 8 more skipped" in r.output
    assert "report.json" in r.output.splitlines()[-1]
    report = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert len(report["skipped"]) == 20  # every one of them, with its reason
    r = invoke("dataset", "inspect", tmp_path / "ds", "--no-sheets")
    assert "skipped at prepare: 20" in r.output and "  ... and 8 more (report.json)" in r.output
    assert sum(": not an image" in line for line in r.output.splitlines()) <= 12, r.output


def test_a_mirrored_source_is_named_once(tmp_path: Path):
    _needs_faces()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        smooth_noise(i, (80, 80)).save(src / f"noface{i}.png")
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "32",
        "--align",
        "face-or-center",
        "--mirror",
        "--workers",
        "1",
    )
    assert r.exit_code == 0, r.output
    r = invoke("dataset", "inspect", tmp_path / "ds", "--no-sheets")
    assert "centre-cropped (no usable face): 4" in r.output  # images
    assert "2 (no face found): noface0.png, noface1.png\n" in r.output, r.output  # sources
