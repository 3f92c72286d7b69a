"""`zizi dataset card`: a datasheet from the manifest, with right coverage figures."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.data.messy import GOOD, build_messy_folder
from tests.helpers.cli import invoke


def test_card_for_a_set_with_a_partial_credits_csv(tmp_path: Path):
    src = build_messy_folder(tmp_path / "photos")
    credits = tmp_path / "credits.csv"
    credits.write_text(
        "source,credit,licence,consent\n"
        "rgb.png,Ana,CC-BY-4.0,yes\n"
        "img.webp,Bo,CC0,yes\n"
        "sub/nested.png,Cy,,\n"
        "alpha.png,,CC0,\n",
        encoding="utf-8",
    )
    ds = tmp_path / "ds"
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        ds,
        "--resolution",
        "64",
        "--credits",
        credits,
        "--workers",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert invoke("dataset", "remove", ds, "img.webp").exit_code == 0

    r = invoke("dataset", "card", ds)
    assert r.exit_code == 0, r.output
    n = len(GOOD) - 1
    assert r.output.startswith(f"{n} images, consent recorded for 1, 1 removed on request")
    out = tmp_path / "ds-datasheet"
    text = (out / "DATASHEET.md").read_text()
    assert f"| credit | 2 of {n} |" in text  # rgb.png, sub/nested.png
    assert f"| licence | 2 of {n} |" in text  # rgb.png, alpha.png
    assert f"| consent | 1 of {n} |" in text  # rgb.png
    consent_row = next(line for line in text.splitlines() if line.startswith("| consent"))
    assert "alpha.png" in consent_row and "sub/nested.png" in consent_row
    assert "rgb.png" not in consent_row.replace("dup\\_of\\_rgb", "").replace("near\\_of\\_rgb", "")
    assert "Licence values: CC0 ×1, CC-BY-4.0 ×1" in text
    # the opt-out log is there, without the opted-out person's file name
    assert "## Removed on request" in text and "img.webp" not in text
    for heading in ("## Motivation", "### Consent", "## Collection process", "## Intended uses"):
        assert heading in text
    assert "*To fill in:*" in text
    assert "| (top folder) |" in text and "| sub | 1 | 1 |" in text
    assert "too small: 1" in text and "truncated: 1" in text
    for chart in ("coverage", "sources", "resolution", "colour"):
        assert f"({chart}.png)" in text
        with Image.open(out / f"{chart}.png") as im:
            assert im.format == "PNG" and im.width > 300
    # Nothing is written into the dataset (no chart taken for a training image).
    assert not list(ds.glob("*.md")) and not list(ds.glob("*.png"))


def test_summary_line_for_the_trainer(tmp_path: Path):
    from zizi.data.card import summary_line
    from zizi.data.prepare import PrepareConfig, prepare

    src = tmp_path / "src"
    src.mkdir()
    from tests.data.messy import smooth_noise

    for i in range(3):
        smooth_noise(i, (40, 40)).save(src / f"{i}.png")
    (tmp_path / "c.csv").write_text("source,consent\n0.png,yes\n1.png,signed form\n")
    prepare(
        PrepareConfig(
            src=src, out=tmp_path / "ds", resolution=32, workers=1, credits=tmp_path / "c.csv"
        )
    )
    assert summary_line(tmp_path / "ds") == "3 images, consent recorded for 2"


def test_a_full_disk_during_card_leaves_no_half_datasheet(tmp_path: Path, monkeypatch):
    """Issue #21 item 11: was a datasheet folder holding only coverage.png."""
    import zizi.data.card as card
    from zizi.errors import DatasetError

    src = build_messy_folder(tmp_path / "photos")
    ds = tmp_path / "ds"
    assert (
        invoke(
            "dataset", "prepare", src, "--out", ds, "--resolution", "64", "--workers", "1"
        ).exit_code
        == 0
    )

    def full(path, *a, **k):
        raise DatasetError(f"could not write {path}: No space left on device; nothing was written")

    monkeypatch.setattr(card, "_chart_sources", full)  # the second chart meets a full disk
    r = invoke("dataset", "card", ds)
    assert r.exit_code == 1 and "No space left" in r.output, r.output
    assert not (tmp_path / "ds-datasheet").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    r = invoke("dataset", "card", ds)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "ds-datasheet").iterdir()) == [
        "DATASHEET.md",
        "colour.png",
        "coverage.png",
        "resolution.png",
        "sources.png",
    ]
