"""`zizi metrics` on a run folder from someone else stays inside it (issue #21 items 4, 11)."""

from __future__ import annotations

import os
import shutil
import tracemalloc

import pytest

from tests.helpers.cli import invoke


def _metrics(run, data, *more):
    return invoke(
        "metrics", run, "--data", data, "--num", "4", "--metrics", "shift", "--frames", "2", *more
    )


def test_charts_linked_out_never_overwrite_an_outside_png(tiny_run, tiny_data, tmp_path):
    run, _, _ = tiny_run
    outside = tmp_path / "portfolio"
    outside.mkdir()
    (outside / "weight-shift.png").write_bytes(b"my own picture")
    (run / "charts").symlink_to(outside)
    r = _metrics(run, tiny_data)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "charts" in r.output and "outside" in r.output
    assert (outside / "weight-shift.png").read_bytes() == b"my own picture"
    assert sorted(p.name for p in outside.iterdir()) == ["weight-shift.png"]


@pytest.mark.parametrize("name", ["frames", "metrics.jsonl"])
def test_frames_or_metrics_linked_out_are_refused(tiny_run, tiny_data, tmp_path, name):
    run, _, _ = tiny_run
    elsewhere = tmp_path / "elsewhere"
    if name == "frames":
        shutil.move(run / "frames", elsewhere)
    else:
        elsewhere.write_text("theirs\n")
    (run / name).symlink_to(elsewhere)
    r = _metrics(run, tiny_data)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert name in r.output and "outside" in r.output
    if name != "frames":
        assert elsewhere.read_text() == "theirs\n"


def test_metrics_jsonl_is_appended_not_read(tiny_run, tiny_data, tmp_path):
    """A long metrics.jsonl (300 MB cost 1.2 GB) is never read whole to append to it."""
    from zizi.metrics.shift import append_jsonl

    run, _, _ = tiny_run
    old = '{"metric": "old"}\n' * 200_000  # 3.6 MB
    (run / "metrics.jsonl").write_text(old)
    tracemalloc.start()
    append_jsonl(run, [{"metric": "new", "kimg": 1.0}])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, peak  # was: the whole file, twice
    text = (run / "metrics.jsonl").read_text()
    assert text.startswith(old) and text.endswith('"kimg": 1.0}\n')


def test_metrics_jsonl_as_a_fifo_is_refused(tiny_run, tiny_data):
    run, _, _ = tiny_run
    os.mkfifo(run / "metrics.jsonl")
    r = _metrics(run, tiny_data)
    assert r.exit_code == 1 and "not a plain file" in r.output, r.output


def test_metrics_num_has_a_bound(tiny_run, tiny_data):
    run, _, _ = tiny_run
    r = _metrics(run, tiny_data, "--num", "1000000000")
    assert r.exit_code == 2 and "100000" in r.output, r.output
