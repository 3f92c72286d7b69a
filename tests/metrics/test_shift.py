"""Weight shift and sample distances over a run's frames: values, charts, JSON lines."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from zizi.errors import ZiziError
from zizi.metrics.shift import group_of, list_frames, pick_frames, weight_shift


def test_frames_are_listed_in_numeric_order(tiny_run):
    run, _, _ = tiny_run
    (run / "frames" / "notes.txt").write_text("ignored")
    assert [n for n, _ in list_frames(run)] == [0, 4000, 8000]


def test_weight_shift_values_are_the_relative_norms(tiny_run):
    run, base, delta = tiny_run
    g = base.tensors["G_ema"]
    w = g["mapping.fc0.weight"].double()
    records = weight_shift(run)
    assert [r["kimg"] for r in records] == [0, 4, 8]
    for k, r in enumerate(records):
        assert r["tensors"]["mapping.fc0.weight"] == pytest.approx(
            k * float(delta.double().norm()) / float(w.norm()), rel=1e-6
        )
        assert r["tensors"]["synthesis.b16.torgb.weight"] == pytest.approx(0.5 * k, rel=1e-6)
        assert r["tensors"]["synthesis.b8.conv0.weight"] == 0
        assert r["tensors"]["mapping.w_avg"] == pytest.approx(k, rel=1e-6)
        mapping_base = sum(
            float(v.double().pow(2).sum())
            for n, v in g.items()
            if group_of(n) == "mapping" and not n.endswith("w_avg")
        )
        assert r["groups"]["mapping"] == pytest.approx(
            k * float(delta.double().norm()) / mapping_base**0.5, rel=1e-6
        )
        assert r["groups"]["b4"] == 0
    assert list(records[-1]["groups"])[:3] == ["mapping", "b4", "b8"]
    assert 0 < records[1]["total"] < records[2]["total"]


def test_a_run_without_a_base_frame_or_frames_is_an_error(tiny_run, tmp_path):
    run, _, _ = tiny_run
    (run / "frames" / "frame-000000000000.safetensors").unlink()
    with pytest.raises(ZiziError, match="base frame"):
        weight_shift(run)
    with pytest.raises(ZiziError, match="frames/"):
        list_frames(tmp_path / "empty")


def test_pick_frames_keeps_first_and_last():
    frames = [(i, None) for i in range(10)]
    picked = [n for n, _ in pick_frames(frames, 4)]
    assert picked[0] == 0 and picked[-1] == 9 and len(picked) == 4


def test_measure_run_writes_charts_and_json_lines(tiny_run, tiny_data, tmp_path, monkeypatch):
    from zizi.data.dataset import ImageDataset
    from zizi.metrics.measure import measure_run

    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZIZI_INCEPTION", raising=False)
    run, _, _ = tiny_run
    res = measure_run(run, ImageDataset(tiny_data), ["fid", "swd", "shift"], num=12)
    assert "fid" not in res and "put inception-2015-12-05" in res["skipped"]["fid"]
    assert res["swd"] > 0 and res["weight_shift"] > 0
    for name in ("weight-shift.png", "sample-distance.png"):
        with Image.open(run / "charts" / name) as im:
            assert im.format == "PNG" and im.size[0] >= 600
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    kinds = [x["metric"] for x in lines]
    assert kinds.count("weight_shift") == 3 and kinds.count("sample_distance") == 3
    assert kinds.count("quality") == 1
    samples = [x for x in lines if x["metric"] == "sample_distance"]
    assert samples[0]["swd_to_base"] == pytest.approx(0, abs=1e-9)  # the base against itself
    assert samples[-1]["swd_to_base"] > 0
    # a second measurement appends, never truncates
    measure_run(run, ImageDataset(tiny_data), ["shift"], num=4)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == len(lines) + 6


def test_compute_for_the_trainer_runs_swd_and_skips_fid_with_the_reason(
    tiny_data, tmp_path, monkeypatch
):
    from tests.helpers.tiny import tiny_checkpoint
    from zizi.data.dataset import ImageDataset
    from zizi.io.checkpoint import build_generator
    from zizi.metrics import compute

    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZIZI_INCEPTION", raising=False)
    G = build_generator(tiny_checkpoint(16), "G_ema")
    out = compute(["fid", "kid", "swd"], G, ImageDataset(tiny_data), num=8)
    assert set(out["skipped"]) == {"fid", "kid"} and out["swd"] > 0 and "swd16" in out
    again = compute(["swd"], G, ImageDataset(tiny_data), num=8)
    assert again["swd"] == out["swd"]  # seeded


def test_compute_with_a_detector_uses_the_real_stats_cache(tiny_data, tmp_path):
    from tests.helpers.tiny import tiny_checkpoint
    from zizi.data.dataset import ImageDataset
    from zizi.io.checkpoint import build_generator
    from zizi.metrics.inception import Detector
    from zizi.metrics.measure import compute

    calls = []

    def feats(images):  # a cheap stand-in detector: 16 fixed random projections of pixels
        calls.append(images.shape[0])
        g = torch.Generator().manual_seed(0)
        proj = torch.randn(images[0].numel(), 16, generator=g) / 100
        return images.reshape(images.shape[0], -1).float() / 255 @ proj

    # 16 features, not 2048: a 2048² matrix square root takes minutes on a busy CPU
    det = Detector(feats, "test", "test-0", torch.device("cpu"), features=16)
    G = build_generator(tiny_checkpoint(16), "G_ema")
    ds = ImageDataset(tiny_data)
    first = compute(["fid", "kid"], G, ds, num=6, inception=det, cache_dir=tmp_path / "c")
    assert sum(calls) == 12 + 6 and len(list((tmp_path / "c").glob("*.npz"))) == 1
    calls.clear()
    second = compute(["fid", "kid"], G, ds, num=6, inception=det, cache_dir=tmp_path / "c")
    assert sum(calls) == 6  # reals came from the cache
    assert second["fid"] == pytest.approx(first["fid"]) and second["kid"] == pytest.approx(
        first["kid"]
    )


@pytest.mark.gpu
def test_compute_on_cuda_matches_the_cpu_for_swd(tiny_data):
    from tests.helpers.tiny import tiny_checkpoint
    from zizi.data.dataset import ImageDataset
    from zizi.io.checkpoint import build_generator
    from zizi.metrics.measure import compute

    G = build_generator(tiny_checkpoint(16), "G_ema")
    cpu = compute(["swd"], G, ImageDataset(tiny_data), num=8, device="cpu")
    gpu = compute(["swd"], G.to("cuda"), ImageDataset(tiny_data), num=8, device="cuda")
    # same seeds, z drawn on the CPU; noise comes from a CUDA generator, so only close
    assert gpu["swd"] == pytest.approx(cpu["swd"], rel=0.5)


def test_the_total_curve_is_a_size_weighted_mean_and_labelled_so(tmp_path, monkeypatch):
    """'all of G_ema' sits below a block that moved a lot when a big group moved little:
    the chart's label and note say so, so it is not read as a bug."""
    import torch

    from zizi.metrics import charts
    from zizi.metrics.shift import TOTAL_LABEL, relative_change, shift_charts

    base = {
        "mapping.fc0.weight": torch.full((64, 64), 100.0),
        "synthesis.b4.conv1.weight": torch.ones(4, 4),
    }
    cur = {
        "mapping.fc0.weight": base["mapping.fc0.weight"] * 1.01,
        "synthesis.b4.conv1.weight": base["synthesis.b4.conv1.weight"] * 1.5,
    }
    rec = relative_change(base, cur)
    assert min(rec["groups"].values()) <= rec["total"] < max(rec["groups"].values())
    seen = {}
    monkeypatch.setattr(
        charts,
        "line_chart",
        lambda path, series, *a, note="", **k: seen.update(series=series, note=note),
    )
    shift_charts(
        tmp_path, [{"kimg": 0.0, **relative_change(base, base)}, {"kimg": 1.0, **rec}], None
    )
    assert TOTAL_LABEL in seen["series"] and "weighted by size" in seen["note"]
