"""Datasets and source folders from strangers, through the CLI (issue #13, dataset side).

The kill -9 cases run zizi in a real subprocess that kills itself with SIGKILL at the
step under test (ZIZI_FAULT, zizi/faults.py): timing a kill from outside is unreliable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.data.messy import smooth_noise
from tests.helpers.cli import invoke

ROOT = Path(__file__).resolve().parents[2]


def zizi_killed_at(fault: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZIZI_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "zizi", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def photos(folder: Path, names: list[str], size: int = 48, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        smooth_noise(seed + i, (size, size)).save(folder / n)
    return folder


def prepared(tmp_path: Path, names: list[str], *extra: str) -> Path:
    src = photos(tmp_path / "src", names)
    out = tmp_path / "ds"
    r = invoke(
        "dataset", "prepare", src, "--out", out, "--resolution", "32", "--workers", "1", *extra
    )
    assert r.exit_code == 0, r.output
    return out


def manifest(ds: Path) -> dict:
    return json.loads((ds / "manifest.json").read_text())


# -- 1. paths from a manifest never reach outside the dataset -------------------------


def test_crafted_manifest_cannot_make_remove_delete_outside(tmp_path: Path):
    ds = prepared(tmp_path, ["a.png", "b.png"])
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / f"victim{i}.png" for i in range(4)]
    for v in victims:
        v.write_bytes(b"precious")
    (ds / "evil").symlink_to(outside)  # a folder inside that leads out
    (ds / "00000" / "link.png").symlink_to(victims[3])  # a file inside that leads out
    m = manifest(ds)
    template = m["images"][0]
    for f in ["../outside/victim0.png", str(victims[1]), "evil/victim2.png", "00000/link.png"]:
        m["images"].append({**template, "file": f, "source": "victim.png"})
    (ds / "manifest.json").write_text(json.dumps(m))

    r = invoke("dataset", "remove", ds, "victim.png")
    assert all(v.read_bytes() == b"precious" for v in victims), r.output
    assert (ds / "00000" / "link.png").is_symlink()
    assert r.output.count("left alone") == 4 and "outside the dataset" in r.output
    # The crafted entries stay on file, untouched, and are reported by every command.
    assert len(manifest(ds)["images"]) == 6
    for args in (
        ["inspect", ds, "--no-sheets"],
        ["contains", ds, tmp_path / "src" / "a.png"],
        ["card", ds],
    ):
        r = invoke("dataset", *args)
        assert r.output.count("left alone") == 4, r.output
    assert all(v.read_bytes() == b"precious" for v in victims)
    # and the training set never reads them
    from zizi.data.dataset import ImageDataset

    train = ImageDataset(ds)
    assert len(train) == 2 and len(train.warnings) == 4
    # Zipped, with the `..` entry stored under that very name: counted the same (2).
    zm = {**m, "images": m["images"][:3]}
    with zipfile.ZipFile(tmp_path / "ds.zip", "w") as z:
        for r in zm["images"][:2]:
            z.write(ds / r["file"], r["file"])
        z.writestr("../outside/victim0.png", (ds / zm["images"][0]["file"]).read_bytes())
        z.writestr("manifest.json", json.dumps(zm))
    assert len(ImageDataset(tmp_path / "ds.zip")) == 2


@pytest.mark.parametrize(
    "field,value", [("phash", "zz"), ("source_size", "big"), ("transform", None), ("source", 3)]
)
def test_a_crafted_record_is_a_damaged_manifest_not_a_traceback(tmp_path: Path, field, value):
    ds = prepared(tmp_path, ["a.png"])
    m = manifest(ds)
    m["images"][0][field] = value
    (ds / "manifest.json").write_text(json.dumps(m))
    for args in (["inspect", ds, "--no-sheets"], ["remove", ds, "a.png"], ["card", ds]):
        r = invoke("dataset", *args)
        assert r.exit_code == 1 and "is damaged" in r.output, r.output
        assert r.output.strip().count("\n") == 0


# -- 3. an interrupted opt-out always finishes ----------------------------------------


def test_removal_killed_after_intent_is_finished_by_any_later_command(tmp_path: Path):
    ds = prepared(tmp_path, ["a.png", "b.png", "c.png"])
    gone = next(r["file"] for r in manifest(ds)["images"] if r["source"] == "b.png")
    p = zizi_killed_at("remove-after-intent", "dataset", "remove", ds, "b.png")
    assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr
    # The dangerous moment: the file is unlisted but still on disk.
    assert (ds / gone).exists()
    assert [r["pending"] for r in manifest(ds)["removed"]] == [True]

    # The training set trusts the manifest: folder and zip count the same, without b.
    from zizi.data.dataset import ImageDataset

    with zipfile.ZipFile(tmp_path / "ds.zip", "w") as z:
        for f in ds.rglob("*"):
            z.write(f, f.relative_to(ds).as_posix())
    assert len(ImageDataset(tmp_path / "ds.zip")) == 2
    assert len(ImageDataset(ds)) == 2  # (and, as a later reader, finishes the removal)
    assert not (ds / gone).exists()

    # Killed again, between the deletes and the final record: a re-run of the same
    # removal completes it and says it was already done, instead of "no image matches".
    p = zizi_killed_at("remove-before-finalise", "dataset", "remove", ds, "a.png")
    assert p.returncode == -signal.SIGKILL
    assert any(r.get("pending") for r in manifest(ds)["removed"])
    r = invoke("dataset", "remove", ds, "a.png")
    assert r.exit_code == 0, r.output
    assert "finished an interrupted removal" in r.output and "already removed" in r.output
    assert "no image matches" not in r.output
    assert not any(r.get("pending") for r in manifest(ds)["removed"])
    assert len(manifest(ds)["images"]) == 1


def test_a_failed_delete_is_one_line_and_finished_later(tmp_path: Path, monkeypatch):
    import zizi.data.manifest as manifest_mod

    ds = prepared(tmp_path, ["a.png", "b.png"])
    gone = next(r["file"] for r in manifest(ds)["images"] if r["source"] == "a.png")
    real = manifest_mod.os.remove

    def busy(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(manifest_mod.os, "remove", busy)
    r = invoke("dataset", "remove", ds, "a.png")
    assert r.exit_code == 1 and r.output.strip().count("\n") == 0, r.output
    assert "the removal is recorded" in r.output and "Traceback" not in r.output
    assert (ds / gone).exists() and len(manifest(ds)["images"]) == 1
    monkeypatch.setattr(manifest_mod.os, "remove", real)
    r = invoke("dataset", "inspect", ds, "--no-sheets")  # any later command finishes it
    assert r.exit_code == 0, r.output
    assert not (ds / gone).exists() and not manifest(ds)["removed"][0].get("pending")


# -- 4. an opt-out takes the person off every contact sheet ---------------------------


def test_opt_out_takes_the_person_off_every_contact_sheet(tmp_path: Path):
    names = [f"p{i}.png" for i in range(5)]
    ds = prepared(tmp_path, names)
    sheets = tmp_path / "ds-contact"
    r = invoke("dataset", "inspect", ds, "--per-page", "2", "--thumb", "16")
    assert r.exit_code == 0 and len(list(sheets.glob("contact-*.png"))) == 3, r.output
    r = invoke("dataset", "remove", ds, "p2.png")  # p2 is on the second page
    assert "deleted contact sheet" in r.output and "contact-001.png" in r.output, r.output
    assert sorted(p.name for p in sheets.glob("contact-*.png")) == [
        "contact-000.png",
        "contact-002.png",
    ]
    # Removing more and redrawing leaves no page of an earlier, longer run behind.
    invoke("dataset", "remove", ds, "p0.png", "p1.png")
    r = invoke("dataset", "inspect", ds, "--per-page", "2", "--thumb", "16")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in sheets.glob("contact-*.png")) == ["contact-000.png"]
    index = json.loads((sheets / "contact.json").read_text())
    shown = {f for fs in index["pages"].values() for f in fs}
    assert shown == {r["file"] for r in manifest(ds)["images"]}


def test_stale_pages_of_an_earlier_inspect_are_deleted(tmp_path: Path):
    ds = prepared(tmp_path, [f"p{i}.png" for i in range(4)])
    sheets = tmp_path / "ds-contact"
    invoke("dataset", "inspect", ds, "--per-page", "1", "--thumb", "16")
    assert len(list(sheets.glob("contact-*.png"))) == 4
    r = invoke("dataset", "inspect", ds, "--per-page", "3", "--thumb", "16")
    assert "deleted stale contact sheet" in r.output
    assert sorted(p.name for p in sheets.glob("contact-*.png")) == [
        "contact-000.png",
        "contact-001.png",
    ]


# -- 6. a killed `prepare --force` never leaves a half-deleted dataset ---------------


@pytest.mark.parametrize("fault", ["prepare-after-old-aside", "prepare-after-new-in-place"])
def test_killed_prepare_force_is_recovered_by_a_rerun(tmp_path: Path, fault: str):
    ds = prepared(tmp_path, ["a.png", "b.png"])
    old = manifest(ds)
    new_src = photos(tmp_path / "new", ["x.png", "y.png", "z.png"], seed=10)
    args = [
        "dataset",
        "prepare",
        new_src,
        "--out",
        ds,
        "--resolution",
        "32",
        "--workers",
        "1",
        "--force",
    ]
    p = zizi_killed_at(fault, *args)
    assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr
    side = tmp_path / "ds.replaced"
    if fault == "prepare-after-old-aside":
        # Neither half-deleted nor lost: the old set whole under a side name.
        assert not ds.exists() and manifest(side) == old
        assert all((side / r["file"]).is_file() for r in old["images"])
    # A re-run recovers and finishes.
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert len(manifest(ds)["images"]) == 3
    assert all((ds / r["file"]).is_file() for r in manifest(ds)["images"])
    assert not side.exists() and not (tmp_path / "ds.partial").exists()


def test_killed_swap_without_force_rerun_gets_the_old_set_back(tmp_path: Path):
    ds = prepared(tmp_path, ["a.png", "b.png"])
    old = manifest(ds)
    new_src = photos(tmp_path / "new", ["x.png"], seed=10)
    p = zizi_killed_at(
        "prepare-after-old-aside",
        "dataset",
        "prepare",
        new_src,
        "--out",
        ds,
        "--resolution",
        "32",
        "--workers",
        "1",
        "--force",
    )
    assert p.returncode == -signal.SIGKILL
    r = invoke("dataset", "prepare", new_src, "--out", ds, "--resolution", "32")
    assert r.exit_code == 1 and "--force" in r.output  # the old set is back, so: refused
    assert manifest(ds) == old and not (tmp_path / "ds.replaced").exists()


# -- 8b. huge and sparse files ---------------------------------------------------------


def test_files_over_the_size_limit_are_skipped_as_too_large_unread(tmp_path: Path):
    src = photos(tmp_path / "src", ["ok.png"])
    with open(src / "huge.png", "wb") as f:
        f.truncate(3 * 2**20)  # sparse: 3 MB of nothing
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "32",
        "--workers",
        "1",
        "--max-file-mb",
        "2",
    )
    assert r.exit_code == 0, r.output
    assert "skipped huge.png: too large: 3 MiB, over the 2 MiB limit" in r.output
    report = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert report["skipped"][0]["reason"].startswith("too large")
    r = invoke("dataset", "prepare", "--help")
    assert "--max-file-mb" in r.output and "1024" in r.output


# -- 9. symlinks leaving the source folder ----------------------------------------------


def test_symlinks_leaving_the_source_are_not_followed_unless_asked(tmp_path: Path):
    src = photos(tmp_path / "src", ["mine.png", "sub/also_mine.png"])
    private = photos(tmp_path / "private", ["secret.png", "diary.png"], seed=20)
    (src / "friends").symlink_to(private)
    (src / "one.png").symlink_to(private / "secret.png")
    (src / "sys").symlink_to("/proc")
    (src / "zz_inside.png").symlink_to(src / "mine.png")  # inside: a same-file duplicate
    r = invoke(
        "dataset", "prepare", src, "--out", tmp_path / "a", "--resolution", "32", "--workers", "1"
    )
    assert r.exit_code == 0, r.output
    sources = sorted(i["source"] for i in manifest(tmp_path / "a")["images"])
    assert sources == ["mine.png", "sub/also_mine.png"]
    for link in ("friends", "one.png", "sys"):
        assert f"skipped {link}: symlink leading outside the source folder" in r.output
    assert "--follow-symlinks" in r.output
    (src / "sys").unlink()
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "b",
        "--resolution",
        "32",
        "--workers",
        "1",
        "--follow-symlinks",
    )
    assert r.exit_code == 0, r.output
    sources = sorted(i["source"] for i in manifest(tmp_path / "b")["images"])
    assert sources == ["friends/diary.png", "friends/secret.png", "mine.png", "sub/also_mine.png"]


# -- 10. no traceback on hostile input --------------------------------------------------


def test_inspect_of_the_filesystem_root_is_one_line():
    r = invoke("dataset", "inspect", "/")
    assert r.exit_code == 1 and "Traceback" not in r.output and r.exception is not None
    assert r.output.strip().count("\n") == 0 and "root of the filesystem" in r.output


def test_remove_on_a_full_disk_is_one_line_and_changes_nothing(tmp_path: Path, monkeypatch):
    import errno

    import zizi.files

    ds = prepared(tmp_path, ["a.png", "b.png"])
    before = (ds / "manifest.json").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zizi.files.os, "fsync", full)
    r = invoke("dataset", "remove", ds, "a.png")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith("Error: could not write") and "nothing was written" in r.output
    assert r.output.strip().count("\n") == 0
    assert (ds / "manifest.json").read_bytes() == before
    assert all((ds / i["file"]).is_file() for i in manifest(ds)["images"])
    assert not [p for p in ds.iterdir() if p.name.endswith((".tmp", ".partial"))]


# -- 11. unicode names --------------------------------------------------------------


def test_names_match_after_nfc_normalisation(tmp_path: Path):
    decomposed = "Rene\u0301e.png"  # as macOS writes it
    src = photos(tmp_path / "src", [decomposed, "other.png"])
    credits = tmp_path / "credits.csv"
    credits.write_text("source,credit,consent\nRen\u00e9e.png,Renée M.,yes\n", encoding="utf-8")
    r = invoke(
        "dataset",
        "prepare",
        src,
        "--out",
        tmp_path / "ds",
        "--resolution",
        "32",
        "--workers",
        "1",
        "--credits",
        credits,
    )
    assert r.exit_code == 0, r.output
    rec = next(i for i in manifest(tmp_path / "ds")["images"] if i["source"] != "other.png")
    assert rec["credit"] == "Renée M." and rec["consent"] == "yes"
    r = invoke("dataset", "remove", tmp_path / "ds", "Ren\u00e9e.png")  # typed composed
    assert r.exit_code == 0 and "1 image removed" in r.output, r.output
    r = invoke("dataset", "remove", tmp_path / "ds", "Ren\u00e9*.png", "--dry-run")
    assert "already removed" in r.output


def test_a_file_name_that_is_not_utf8_is_reported_not_a_traceback(tmp_path: Path):
    src = photos(tmp_path / "src", ["ok.png"])
    smooth_noise(5, (48, 48)).save(os.fsencode(src) + b"/bad\xff.png")
    r = invoke(
        "dataset", "prepare", src, "--out", tmp_path / "ds", "--resolution", "32", "--workers", "1"
    )
    assert r.exit_code == 0, r.output
    assert "skipped bad\\udcff.png: file name is not valid UTF-8" in r.output
    report = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert report["skipped"][0]["source"] == "bad\\udcff.png"


# -- 12. terminal escapes -------------------------------------------------------------


def test_control_characters_in_names_are_shown_escaped(tmp_path: Path):
    evil = "x\x1b[2J\x1b]0;pwned\x07.png"
    src = photos(tmp_path / "src", [evil, "ok.png"])
    (src / "note\x1b[31m.txt").write_text("hi")
    for args in (
        ["prepare", src, "--out", tmp_path / "ds", "--resolution", "32", "--workers", "1"],
        ["inspect", tmp_path / "ds", "--no-sheets"],
        ["remove", tmp_path / "ds", evil, "--dry-run"],
        ["remove", tmp_path / "ds", "nobody\x1b[2J"],
    ):
        r = invoke("dataset", *args)
        assert "\x1b" not in r.output and "\x07" not in r.output, r.output
        assert "\\x1b" in r.output, r.output


def test_info_shows_a_crafted_provenance_escaped(tmp_path: Path):
    from tests.helpers.tiny import tiny_checkpoint
    from zizi.io.checkpoint import save_checkpoint

    ck = tiny_checkpoint()
    ck.provenance = {**ck.provenance, "source_file": "face\x1b[2J\x1b]0;owned\x07.pkl"}
    save_checkpoint(tmp_path / "t.safetensors", ck)
    r = invoke("info", tmp_path / "t.safetensors")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "face\\x1b[2J" in r.output
