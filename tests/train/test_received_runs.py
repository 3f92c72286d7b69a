"""A run folder from someone else stays inside itself and within bounds (issue #21 items 4,
5, 9 and the config parts of 11): every attack here broke `zizi train --resume` on the
main of 2026-12-05 (wrote or deleted outside the run, hung, or ended in a traceback)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import invoke, one_line
from tests.helpers.hostile import raw_safetensors, write_raw_safetensors
from tests.helpers.tiny import TINY_SET_FLAGS


@pytest.fixture(scope="module")
def made_run(tmp_path_factory, tiny_data, tiny_ckpt) -> Path:
    root = tmp_path_factory.mktemp("made")
    sets = TINY_SET_FLAGS
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        root,
        *sets,
        "--set",
        "snap_kimg=0.004",
        "--kimg",
        0.008,
    )
    assert r.exit_code == 0, r.output
    return root / "00000-faces"


@pytest.fixture
def received(made_run, tmp_path) -> Path:
    """A copy of the run, as it arrives from a stranger."""
    run = tmp_path / "inbox" / "00000-faces"
    shutil.copytree(made_run, run, symlinks=True)
    return run


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    d = tmp_path / "elsewhere"
    d.mkdir()
    return d


def _snapshot_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_snapshots_link_out_is_refused_and_nothing_outside_is_pruned(received, elsewhere):
    for k in range(1, 8):  # a pruning resume deleted these; then wrote its own there
        (elsewhere / f"snapshot-{k:012d}.safetensors").write_bytes(b"theirs %d" % k)
    before = _snapshot_files(elsewhere)
    shutil.rmtree(received / "snapshots")
    (received / "snapshots").symlink_to(elsewhere)
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), "snapshots", "outside", code=1)
    assert _snapshot_files(elsewhere) == before


@pytest.mark.parametrize("name", ["frames", "samples"])
def test_output_folders_linked_out_are_refused(received, elsewhere, name):
    shutil.rmtree(received / name)
    (received / name).symlink_to(elsewhere)
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), name, "outside", code=1)
    assert list(elsewhere.iterdir()) == []


def test_log_linked_to_a_secret_is_never_read_or_copied(received, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("password=hunter2\n")
    (received / "log.txt").unlink()
    (received / "log.txt").symlink_to(secret)
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), "log.txt", "outside", code=1)
    assert secret.read_text() == "password=hunter2\n"
    assert not any(
        "hunter2" in p.read_text(errors="replace")
        for p in received.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def test_log_to_dev_zero_is_refused_without_reading_it(received):
    (received / "log.txt").unlink()
    (received / "log.txt").symlink_to("/dev/zero")  # was: 5.9 GB read, and growing
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), "log.txt", code=1)


def test_stats_as_a_fifo_is_refused_not_waited_on(received):
    (received / "stats.jsonl").unlink()
    os.mkfifo(received / "stats.jsonl")  # was: the resume hung forever opening it
    one_line(
        invoke("train", "--resume", received, "--kimg", 0.016),
        "stats.jsonl",
        "not a plain file",
        code=1,
    )


def test_huge_config_is_refused_before_parsing(received):
    with open(received / "config.yaml", "a") as f:
        f.write("# " + "x" * (2 << 20) + "\n")
    one_line(
        invoke("train", "--resume", received, "--kimg", 0.016), "config.yaml", "larger than", code=1
    )


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("data.workers", 200, ["data.workers", "64"]),
        ("batch", 200_000_000, ["batch", "4096"]),
        ("sample_seeds", 100_000, ["sample_seeds", "1024"]),
        ("optim.g_lr", float("nan"), ["optim.g_lr", "finite"]),
        ("data.max_size", -5, ["data.max_size"]),
        ("ema.kimg", 0, ["ema.kimg"]),
    ],
)
def test_config_values_from_a_run_get_the_bounds_of_a_flag(received, key, value, words):
    cfg = yaml.safe_load((received / "config.yaml").read_text())
    section, _, field = key.rpartition(".")
    (cfg["train"][section] if section else cfg["train"])[field] = value
    (received / "config.yaml").write_text(yaml.safe_dump(cfg))
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), *words, code=1)


@pytest.mark.parametrize(
    "flag",
    [["--kimg", "inf"], ["--kimg", "1e308"], ["--snap-kimg", "inf"], ["--set", "optim.g_lr=nan"]],
)
def test_unbounded_flags_are_one_line(received, flag):
    one_line(invoke("train", "--resume", received, *flag), code=1)


@pytest.mark.parametrize(
    "field,value",
    [("nimg", "abc"), ("nimg", 1e400), ("pl_mean", "x"), ("python_rng.version", 99), ("step", -3)],
)
def test_crafted_snapshot_train_headers_are_one_line(received, field, value):
    latest = received / "latest.safetensors"
    for snap in (received / "snapshots").iterdir():
        snap.unlink()
    header, data = raw_safetensors(latest)
    doc = json.loads(header["__metadata__"]["zizi"])
    parent, _, key = field.rpartition(".")
    (doc["train"][parent] if parent else doc["train"])[key] = value
    header["__metadata__"]["zizi"] = json.dumps(doc)
    latest.unlink()  # a hard link to a snapshot: write a new file
    write_raw_safetensors(latest, header, data)
    one_line(invoke("train", "--resume", received, "--kimg", 0.016), code=1)


def test_a_sound_received_run_still_resumes_and_appends_its_log(received):
    log_before = (received / "log.txt").read_text()
    r = invoke("train", "--resume", received, "--kimg", 0.012)
    assert r.exit_code == 0, r.output
    log_after = (received / "log.txt").read_text()
    assert log_after.startswith(log_before) and "continuing from" in log_after[len(log_before) :]


# -- item 8: a change of data is recorded in the run and said on the terminal -----------


def test_resume_with_other_data_is_recorded_and_said(received, tiny_data, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    r = invoke("train", "--resume", received, "--data", other, "--kimg", 0.012)
    assert r.exit_code == 0, r.output
    assert "note: the training data changed" in r.output  # was: silently trained on OTHER
    cfg = yaml.safe_load((received / "config.yaml").read_text())
    assert cfg["data"] == str(other.resolve())  # was: still the old dataset
    assert cfg["data_changes"][-1]["from"] == str(Path(tiny_data).resolve())
    assert cfg["data_changes"][-1]["to"] == str(other.resolve())
    assert "the training data changed" in (received / "log.txt").read_text()
    from zizi.render.provenance import dataset_changes

    assert dataset_changes(received)[-1]["at_kimg"] == 0.008  # what a render's record carries


def test_images_changed_in_place_are_noticed(received, tiny_data, tmp_path):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)  # same names, sizes and times: the same dataset
    cfg = yaml.safe_load((received / "config.yaml").read_text())
    cfg["data"] = str(data.resolve())
    (received / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = invoke("train", "--resume", received, "--kimg", 0.012)
    assert r.exit_code == 0 and "note: the" not in r.output, r.output
    img = sorted(p for p in data.iterdir() if p.suffix == ".png")[0]
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(img)  # other pixels
    r = invoke("train", "--resume", received, "--kimg", 0.016)
    assert r.exit_code == 0, r.output
    assert "note: the images in" in r.output and "changed" in r.output
    assert "changed since this run" in (received / "log.txt").read_text()
