"""What `measure_run` measures: the run's newest frame, and every frame with the same seeds.

The formulas are pinned in test_swd/test_frechet/test_kid; these pin the call sites: which
checkpoint the numbers come from, and that "sample distance" compares like with like.
"""

from __future__ import annotations

import shutil

import pytest

from zizi.data.dataset import ImageDataset


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZIZI_INCEPTION", raising=False)


def test_quality_numbers_are_the_newest_frames(tiny_run, tiny_data, no_inception):
    from zizi.metrics.measure import measure_checkpoint, measure_run
    from zizi.metrics.shift import list_frames

    run, _, _ = tiny_run
    data = ImageDataset(tiny_data)
    frames = list_frames(run)
    res = measure_run(run, data, ["swd"], num=12, seed=3)
    assert res["frame"] == frames[-1][1].name
    newest = measure_checkpoint(frames[-1][1], data, ["swd"], num=12, seed=3)
    first = measure_checkpoint(frames[0][1], data, ["swd"], num=12, seed=3)
    assert res["swd"] == newest["swd"] and res["swd"] != first["swd"]


def test_sample_distance_draws_the_same_seeds_at_every_frame(tiny_run, tiny_data):
    """A run whose frames are all the same network: every frame's samples are the base's."""
    from zizi.metrics.shift import sample_distance

    run, _, _ = tiny_run
    frames = sorted((run / "frames").glob("frame-*.safetensors"))
    for f in frames[1:]:
        shutil.copyfile(frames[0], f)
    recs = sample_distance(run, ImageDataset(tiny_data), num=8, seed=1)
    assert len(recs) == len(frames)
    for r in recs:
        assert r["swd_to_base"] == pytest.approx(0, abs=1e-9)
        assert r["swd_to_data"] == pytest.approx(recs[0]["swd_to_data"], rel=1e-9)
