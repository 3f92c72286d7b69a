"""Knowing when to stop: the warnings a run prints when it overfits or collapses."""

from __future__ import annotations

import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SETTINGS, make_images, tiny_nets
from zizi.train.config import WatchConfig
from zizi.train.loop import train
from zizi.train.setup import TrainJob, prepare
from zizi.train.watch import Watch, grid_diversity


def test_a_tiny_run_made_to_overfit_warns_once_per_sign(tmp_path, tiny_ckpt):
    # Four images, a fast D and an almost frozen G: D memorises the reals, ADA pushes p up.
    data = make_images(tmp_path / "four", n=4)
    sets = [
        *TINY_SETTINGS,
        "optim.d_lr=0.02",
        "optim.g_lr=0.0001",
        "augment.mode=ada",
        "augment.adjust_kimg=0.05",
        "augment.interval=1",
        "frame_kimg=0.02",
        "watch.swd_num=8",
    ]
    p = prepare(
        TrainJob(
            out=tmp_path / "runs",
            data=data,
            resume=str(tiny_ckpt),
            assignments=sets,
            flags={"kimg": 0.08},
        ),
        torch.device("cpu"),
    )
    shown: list[str] = []
    out = train(
        p.trainer,
        p.dataset,
        p.run,
        progress=lambda e: shown.append(e["warning"]) if "warning" in e else None,
    )
    log = (p.run_path / "log.txt").read_text()
    ada = [line for line in log.splitlines() if "ADA p" in line and "warning" in line]
    gap = [line for line in log.splitlines() if "D(real) − D(fake)" in line]
    assert len(ada) == 1 and len(gap) == 1, log
    assert len(shown) == 2 and all(line in log for line in shown)  # printed and logged
    first_p = next(e for e in out.stats if e["augment_p"] >= 0.6)
    assert f"kimg {first_p['kimg']:.3f}: ADA p" in ada[0]
    first_gap = next(e for e in out.stats if e["scores/real"] - e["scores/fake"] > 4)
    assert f"kimg {first_gap['kimg']:.3f}: D(real)" in gap[0]
    # the frame measurements travel in the ticks' stats
    assert all("watch/diversity" in e and "watch/swd" in e for e in out.stats)


def test_grid_diversity_collapse_and_swd_rise_are_named():
    from zizi.nets.generator import Generator

    torch.manual_seed(0)
    G = Generator(tiny_nets()[0]).eval()
    z = torch.randn(8, G.z_dim)
    with torch.no_grad():
        varied = grid_diversity(G(z, None, noise_mode="const"))
        G.mapping.fc1.weight.zero_()  # every z maps to the same w: one face
        collapsed = grid_diversity(G(z, None, noise_mode="const"))
    assert varied > 0.01 and collapsed < 1e-6

    w = Watch(WatchConfig(diversity=0.5, swd_rise=0.2))
    assert w.frame(0.0, varied, 10.0) == []  # the base: nothing to compare with yet
    assert w.frame(1.0, varied * 0.8, 8.0) == []
    lines = w.frame(2.0, collapsed, 9.0)
    assert len(lines) == 1 and "0% as varied" in lines[0]
    lines = w.frame(3.0, collapsed, 10.0)  # 25% above the best (8.0 at kimg 1)
    assert len(lines) == 1 and "SWD to the data 10.00" in lines[0] and "kimg 1.000" in lines[0]
    assert w.frame(4.0, collapsed, 11.0) == []  # said once


def test_pick_best_names_the_frame_before_the_drift():
    from zizi.metrics.measure import pick_best

    recs = [
        {"nimg": n, "kimg": n / 1000, "swd_to_data": v}
        for n, v in ((0, 50.0), (4000, 30.0), (8000, 20.0), (12000, 26.0), (16000, 31.0))
    ]
    got = pick_best(recs)
    assert got["best"]["nimg"] == 8000 and got["rise"] == 31.0 / 20.0 - 1
    # FID decides when every frame has one
    for r, fid in zip(recs, (90, 80, 85, 70, 95)):
        r["fid_to_data"] = fid
    assert pick_best(recs)["best"]["nimg"] == 12000


def test_metrics_best_on_a_run(tmp_path, tiny_data, tiny_ckpt):

    p = prepare(
        TrainJob(
            out=tmp_path / "runs",
            data=tiny_data,
            resume=str(tiny_ckpt),
            assignments=TINY_SETTINGS,
            flags={"kimg": 0.016},
        ),
        torch.device("cpu"),
    )
    train(p.trainer, p.dataset, p.run)
    r = invoke(
        "metrics",
        p.run_path,
        "--data",
        tiny_data,
        "--best",
        "--num",
        "8",
        "--inception",
        tmp_path / "none.pt",
    )
    assert r.exit_code == 0, r.output
    assert "best frame: " in r.output and "frame-" in r.output
    assert r.output.count("SWD to the data") >= 3  # frames 0, 8, 16
    r = invoke("metrics", tiny_ckpt, "--data", tiny_data, "--best")
    assert r.exit_code != 0 and "--best" in r.output
