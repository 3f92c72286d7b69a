"""--force never deletes a folder zizi did not write (issue #21 item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import invoke, one_line

ARGS = ["--frames", "2", "--fps", "2", "--device", "cpu", "--force"]


@pytest.mark.parametrize("spelling", [".", "HOME", "PARENT"])
def test_force_never_replaces_the_current_folder_its_parents_or_home(
    tiny_run, tmp_path, monkeypatch, spelling
):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / "thesis.txt").write_text("three years")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(work))
    out = {".": Path("."), "HOME": Path("~").expanduser(), "PARENT": Path("..")}[spelling]
    r = invoke("render", "shift", tiny_run, "--out", out, *ARGS)
    one_line(r, "even with --force")
    assert (work / "thesis.txt").read_text() == "three years"  # was: the folder emptied
    assert sorted(p.name for p in work.iterdir()) == ["thesis.txt"]


def test_force_replaces_an_earlier_png_render_but_not_a_folder_of_other_files(tiny_run, tmp_path):
    out = tmp_path / "seq"
    r = invoke("render", "shift", tiny_run, "--out", out, *ARGS)
    assert r.exit_code == 0, r.output
    assert (out / "provenance.json").is_file() and len(list(out.glob("frame*.png"))) == 2
    r = invoke("render", "shift", tiny_run, "--out", out, *ARGS)  # an earlier PNG render: replaced
    assert r.exit_code == 0, r.output
    other = tmp_path / "photos"
    other.mkdir()
    (other / "mum.jpg").write_bytes(b"\xff\xd8 precious")
    r = invoke("render", "shift", tiny_run, "--out", other, *ARGS)
    one_line(r, "not an earlier PNG-sequence render")
    assert (other / "mum.jpg").read_bytes() == b"\xff\xd8 precious"


def test_a_video_name_that_is_a_folder_is_one_line(tiny_run, tmp_path):
    (tmp_path / "x.mp4").mkdir()
    (tmp_path / "x.mp4" / "keep").write_text("k")
    r = invoke("render", "shift", tiny_run, "--out", tmp_path / "x.mp4", *ARGS)
    one_line(r, "is a folder")
    assert (tmp_path / "x.mp4" / "keep").exists()
