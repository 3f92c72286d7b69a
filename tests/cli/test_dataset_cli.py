"""`zizi dataset prepare / inspect / remove / contains` through click, in a temp folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.data.messy import BAD, GOOD, build_messy_folder, snapshot
from zizi.cli import cli


def test_prepare_inspect_contains_remove(tmp_path: Path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        src = build_messy_folder(Path("photos"))
        before = snapshot(src)
        r = runner.invoke(
            cli,
            [
                "dataset",
                "prepare",
                "photos",
                "--out",
                "datasets/w",
                "--resolution",
                "64",
                "--dedupe",
                "--background",
                "000000",
            ],
        )
        assert r.exit_code == 0, r.output
        assert f"{len(GOOD) - 2} images written" in r.output
        for name in BAD:
            assert f"skipped {name}:" in r.output
        assert "skipped rgb.png: duplicate of dup_of_rgb.bmp" in r.output
        assert snapshot(src) == before
        report = json.loads(Path("datasets/w/report.json").read_text())
        assert report["written"] == len(GOOD) - 2

        r = runner.invoke(cli, ["dataset", "prepare", "photos", "--out", "datasets/w"])
        assert r.exit_code == 1 and "--force" in r.output and "Traceback" not in r.output
        r = runner.invoke(cli, ["dataset", "prepare", "photos", "--out", "photos/x"])
        assert r.exit_code == 1 and "source folder" in r.output

        r = runner.invoke(cli, ["dataset", "inspect", "datasets/w", "--per-page", "4"])
        assert r.exit_code == 0, r.output
        assert f"{len(GOOD) - 2} images" in r.output and "64×64" in r.output
        assert "truncated.jpg: truncated" in r.output and "duplicate groups: 1" in r.output
        assert Path("datasets/w-contact/contact-000.png").is_file()

        r = runner.invoke(cli, ["dataset", "contains", "datasets/w", "photos/img.webp"])
        assert r.exit_code == 0 and r.output.startswith("yes")
        r = runner.invoke(cli, ["dataset", "contains", "datasets/w", "photos/tiny.png"])
        assert r.exit_code == 1 and r.output.startswith("no")

        r = runner.invoke(cli, ["dataset", "remove", "datasets/w", "img.webp", "--dry-run"])
        assert r.exit_code == 0 and "1 image would be removed" in r.output
        r = runner.invoke(cli, ["dataset", "remove", "datasets/w", "img.webp"])
        assert r.exit_code == 0 and r.output.endswith("\n1 image removed\n")
        assert "(s)" not in r.output
        r = runner.invoke(cli, ["dataset", "contains", "datasets/w", "photos/img.webp"])
        assert r.exit_code == 1
        r = runner.invoke(cli, ["dataset", "remove", "datasets/w", "nobody.png"])
        assert r.exit_code == 1


def test_face_without_extra_or_bad_options_is_one_line(tmp_path: Path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        Path("src").mkdir()
        r = runner.invoke(cli, ["dataset", "prepare", "src", "--out", "o", "--resolution", "100"])
        assert r.exit_code == 1 and "power of two" in r.output and "Traceback" not in r.output
        r = runner.invoke(cli, ["dataset", "prepare", "src", "--out", "o", "--background", "red"])
        assert r.exit_code == 2 and "hex colour" in r.output and "--background" in r.output
        r = runner.invoke(cli, ["dataset", "inspect", "src"])
        assert r.exit_code == 0 and "0 images" in r.output


def test_help_is_instant_and_names_model_licences():
    code = (
        "import sys; from zizi.cli import cli; "
        "cli(['dataset', 'prepare', '--help'], standalone_mode=False); "
        "bad = [m for m in ('torch', 'numpy', 'PIL', 'dlib') if m in sys.modules]; "
        "assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "CC0" in out.stdout and "iBUG 300-W" in out.stdout and "commercial" in out.stdout
