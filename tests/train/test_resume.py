"""Training resumes bit-identically; damaged snapshots are detected; the run folder contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers.tiny import TINY_SETTINGS, make_checkpoint, make_images, tiny_nets
from zizi.config import MappingConfig
from zizi.io.checkpoint import load_checkpoint, read_header, tensor_shapes
from zizi.io.runs import list_frames
from zizi.train.loop import train
from zizi.train.run import list_snapshots
from zizi.train.setup import TrainJob, prepare

CPU = torch.device("cpu")


def _job(tmp_path, data, ckpt, *sets, resume=None, **flags):
    return TrainJob(
        out=tmp_path / "runs",
        data=data,
        resume=str(resume or ckpt),
        assignments=[*TINY_SETTINGS, *sets],
        flags=flags,
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    ck = load_checkpoint(path)
    out = {f"{net}.{k}": v for net, sd in ck.tensors.items() for k, v in sd.items()}
    out.update({f"{ns}.{k}": v for ns, sd in ck.state.items() for k, v in sd.items()})
    return out


def test_n_plus_m_steps_equal_n_then_resume_m(tmp_path, tiny_data, tiny_ckpt):
    # straight: 6 steps (24 images)
    p = prepare(_job(tmp_path / "a", tiny_data, tiny_ckpt, kimg=0.024), CPU)
    straight = train(p.trainer, p.dataset, p.run)
    assert straight.status == "done" and straight.nimg == 24
    # 3 steps, stop (as a signal would), then continue the run folder for 3 more
    p = prepare(_job(tmp_path / "b", tiny_data, tiny_ckpt, kimg=0.024), CPU)
    first = train(p.trainer, p.dataset, p.run, max_steps=3)
    assert first.status == "stopped" and first.nimg == 12
    run_b = p.run_path
    p = prepare(TrainJob(out=None, resume=str(run_b)), CPU)
    assert p.trainer.nimg == 12 and p.trainer.step == 3
    second = train(p.trainer, p.dataset, p.run)
    assert second.nimg == 24

    a = _weights(Path(straight.snapshot))
    b = _weights(run_b / "latest.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resuming"
    # the losses of the resumed steps are the same numbers too
    last_a = [e for e in straight.stats if e["nimg"] == 24][0]
    last_b = [e for e in second.stats if e["nimg"] == 24][0]
    assert last_a["loss/G"] == last_b["loss/G"] and last_a["loss/D"] == last_b["loss/D"]


def test_ada_p_moves_is_saved_and_resumes_exactly(tmp_path, tiny_data, tiny_ckpt):
    ada = [
        "augment.mode=ada",
        "augment.interval=1",
        "augment.adjust_kimg=0.05",
        "augment.target=0.0",
    ]
    p = prepare(_job(tmp_path / "a", tiny_data, tiny_ckpt, *ada, kimg=0.016), CPU)
    straight = train(p.trainer, p.dataset, p.run)
    p_end = p.trainer.augment_p
    assert p_end != 0.0  # r_t differs from the target, so p moved by 4/50 per step
    assert read_header(Path(straight.snapshot))["train"]["augment_p"] == p_end
    assert straight.stats[-1]["augment_p"] == p_end

    p = prepare(_job(tmp_path / "b", tiny_data, tiny_ckpt, *ada, kimg=0.016), CPU)
    train(p.trainer, p.dataset, p.run, max_steps=2)
    p = prepare(TrainJob(out=None, resume=str(p.run_path)), CPU)
    train(p.trainer, p.dataset, p.run)
    assert p.trainer.augment_p == p_end
    a, b = _weights(Path(straight.snapshot)), _weights(p.run_path / "latest.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_contract(tmp_path, tiny_data, tiny_ckpt):
    p = prepare(
        _job(tmp_path, tiny_data, tiny_ckpt, "keep_snapshots=2", "snap_kimg=0.008", kimg=0.016), CPU
    )
    out = train(p.trainer, p.dataset, p.run)
    run = p.run_path
    assert run.name == "00000-faces"
    for name in ("config.yaml", "log.txt", "stats.jsonl", "latest.safetensors"):
        assert (run / name).is_file(), name
    frames = list_frames(run)
    assert [n for n, _ in frames] == [0, 8, 16]  # frame_kimg 0.008: every 8 images
    # frame 0 is the untouched base G_ema
    base = load_checkpoint(tiny_ckpt, nets=["G_ema"]).tensors["G_ema"]
    f0 = load_checkpoint(frames[0][1], nets=["G_ema"])
    assert all(torch.equal(base[k], f0.tensors["G_ema"][k]) for k in base)
    assert f0.extra == {"nimg": 0, "kimg": 0.0}
    assert set(read_header(frames[-1][1])["nets"]) == {"G_ema"}
    assert sorted(p.name for p in (run / "samples").iterdir())[0] == "kimg000000.000.png"
    snaps = list_snapshots(run)
    assert len(snaps) == 2 and snaps[-1][0] == out.nimg == 16
    header = read_header(run / "latest.safetensors")
    assert header["train"]["nimg"] == 16 and header["train"]["config"]["batch"] == 4
    assert "checksum" in header and set(header["state"]) == {"opt_G", "opt_D", "rng"}
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert {
        "kimg",
        "loss/G",
        "loss/D",
        "augment_p",
        "sec_per_kimg",
        "images_per_sec",
        "peak_rss_gib",
    } <= stats[-1].keys()
    # a second run takes the next number
    p2 = prepare(_job(tmp_path, tiny_data, tiny_ckpt, kimg=0.004), CPU)
    assert p2.run_path.name == "00001-faces"


def test_damaged_latest_falls_back_to_previous_snapshot(tmp_path, tiny_data, tiny_ckpt):
    p = prepare(_job(tmp_path, tiny_data, tiny_ckpt, "snap_kimg=0.008", kimg=0.016), CPU)
    train(p.trainer, p.dataset, p.run)
    run = p.run_path
    latest = run / "latest.safetensors"
    # latest is a hard link of the newest snapshot: damage both, as a disk would
    data = bytearray(latest.read_bytes())
    data[-10] ^= 0xFF
    newest = list_snapshots(run)[-1][1]
    newest.unlink()
    latest.unlink()
    latest.write_bytes(bytes(data))
    p = prepare(TrainJob(out=None, resume=str(run)), CPU)
    assert p.trainer.nimg == 8
    assert any("latest.safetensors" in n and "damaged" in n for n in p.notes)
    # a truncated latest is detected as well
    latest.write_bytes(bytes(data[: len(data) // 2]))
    p = prepare(TrainJob(out=None, resume=str(run)), CPU)
    assert p.trainer.nimg == 8 and any("truncated" in n for n in p.notes)


def test_unusual_dimensions_train_with_exactly_that_architecture(tmp_path):
    g, d = tiny_nets(
        res=8,
        z_dim=6,
        w_dim=10,
        channel_base=56,
        channel_max=14,
        mapping=MappingConfig(num_layers=6),
    )
    ckpt = make_checkpoint(tmp_path / "odd.safetensors", g, d)
    data = make_images(tmp_path / "odd", n=4, res=8)
    p = prepare(_job(tmp_path, data, ckpt, kimg=0.008), CPU)
    train(p.trainer, p.dataset, p.run)
    assert tensor_shapes(ckpt).keys() <= {
        k for k in tensor_shapes(p.run_path / "latest.safetensors")
    }
    before, after = tensor_shapes(ckpt), tensor_shapes(p.run_path / "latest.safetensors")
    for k, shape in before.items():
        assert after[k] == shape, k
    h = read_header(p.run_path / "latest.safetensors")
    assert h["nets"]["G"]["config"]["mapping"]["num_layers"] == 6
    assert after["G.mapping.fc0.weight"] == (10, 6)  # z 6 -> w 10
    assert after["G.synthesis.b8.conv1.weight"] == (7, 7, 3, 3)  # odd channel count 56/8


@pytest.mark.parametrize("kind", ["dataset size", "no D"])
def test_mismatches_are_one_clear_error(tmp_path, tiny_data, tiny_ckpt, kind):
    from zizi.errors import ZiziError

    if kind == "dataset size":
        data = make_images(tmp_path / "big", n=2, res=32)
        with pytest.raises(ZiziError, match=r"32×32 images but the network makes 16×16.*prepare"):
            prepare(_job(tmp_path, data, tiny_ckpt), CPU)
        small = make_images(tmp_path / "small", n=2, res=8)
        with pytest.raises(ZiziError, match="zizi resize"):
            prepare(_job(tmp_path, small, tiny_ckpt), CPU)
    else:
        g, d = tiny_nets()
        no_d = make_checkpoint(tmp_path / "g.safetensors", g, d, with_d=False)
        with pytest.raises(ZiziError, match="no discriminator"):
            prepare(_job(tmp_path, tiny_data, no_d), CPU)


def test_frozen_layers_stay_bit_identical_through_training(tmp_path, tiny_data, tiny_ckpt):
    p = prepare(
        _job(
            tmp_path,
            tiny_data,
            tiny_ckpt,
            "freeze.d_layers=2",
            "freeze.mapping=true",
            "freeze.g_below_res=8",
            kimg=0.008,
        ),
        CPU,
    )
    out = train(p.trainer, p.dataset, p.run)
    base, after = _weights(tiny_ckpt), _weights(Path(out.snapshot))
    frozen = [
        k
        for k in after
        if k.startswith(("G.mapping.", "G.synthesis.b4.", "D.b16.fromrgb", "D.b16.conv0"))
    ]
    assert frozen and all(
        torch.equal(base[k], after[k]) for k in frozen if k in base and not k.endswith("w_avg")
    )
    assert not any(k.startswith("opt_G.mapping.") or k.startswith("opt_D.b16.conv0") for k in after)
    assert not torch.equal(
        base["G.synthesis.b16.conv1.weight"], after["G.synthesis.b16.conv1.weight"]
    )


def test_a_run_config_that_contradicts_its_snapshot_is_an_error(tmp_path, tiny_data, tiny_ckpt):
    import yaml

    from zizi.errors import ConfigError

    p = prepare(_job(tmp_path, tiny_data, tiny_ckpt, kimg=0.004), CPU)
    train(p.trainer, p.dataset, p.run)
    cfg_path = p.run_path / "config.yaml"
    data = yaml.safe_load(cfg_path.read_text())
    data["architecture"]["G"]["mapping"]["num_layers"] = 8
    cfg_path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match=r"G\.mapping\.num_layers: 8 in config\.yaml, 2 in the snapshot"
    ):
        prepare(TrainJob(out=None, resume=str(p.run_path)), CPU)
