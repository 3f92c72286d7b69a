"""Training config: presets load, precedence, unknown keys, nested type-hint resolution."""

from pathlib import Path

import pytest

from zizi.config import from_dict
from zizi.errors import ConfigError
from zizi.train.config import TrainConfig, resolve_config

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.mark.parametrize("name", ["tiny", "ffhq256", "ffhq512", "ffhq1024"])
def test_presets_load(name):
    cfg = resolve_config(config_files=[PRESETS / f"{name}.yaml"])
    assert cfg.kimg > 0 and cfg.batch >= 1


def test_precedence_defaults_files_set_flags(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("batch: 8\nkimg: 5\nloss:\n  r1_gamma: 3\n  pl_weight: 1\n")
    b.write_text("batch: 16\n")
    cfg = resolve_config(
        config_files=[a, b],
        assignments=["loss.r1_gamma=7", "kimg=6"],
        flags={"kimg": 0.2, "batch": None},
    )
    assert cfg.batch == 16  # later file wins over earlier file
    assert cfg.loss.r1_gamma == 7  # --set wins over files
    assert cfg.loss.pl_weight == 1  # untouched nested keys keep the file's value
    assert cfg.kimg == 0.2  # a flag wins over --set; a flag not given changes nothing
    assert cfg.loss.r1_interval == 16  # defaults fill the rest


def test_unknown_keys_suggest(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'r1_gamma'"):
        resolve_config(assignments=["loss.r1_gama=1"])
    with pytest.raises(ConfigError, match="did you mean 'augment'"):
        resolve_config(assignments=["augmnet.mode=ada"])
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(assignments=["batch"])
    with pytest.raises(ConfigError, match="kimg must be more than 0"):
        resolve_config(flags={"kimg": 0})


def test_nested_dataclasses_resolved_from_type_hints():
    cfg = from_dict(TrainConfig, {"ema": {"rampup": 0.05}, "augment": {"mode": "ada"}})
    assert cfg.ema.rampup == 0.05 and cfg.augment.mode == "ada" and cfg.augment.target == 0.6


def test_every_shipped_preset_resolves():
    """Each configs/train preset is valid TrainConfig data (a typo there is caught here)."""
    from pathlib import Path

    from zizi.train.config import resolve_config

    presets = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))
    assert {p.stem for p in presets} >= {"tiny", "ffhq256", "ffhq512", "ffhq1024", "workshop256"}
    for p in presets:
        cfg = resolve_config(config_files=[p])
        assert cfg.kimg > 0 and cfg.batch >= 1, p.name
    workshop = resolve_config(config_files=[Path(presets[0]).parent / "workshop256.yaml"])
    assert workshop.augment.mode == "ada" and workshop.batch_gpu == 8


def test_config_auto_is_s2a_cfg_auto_and_later_layers_still_win():
    from zizi.train.config import auto_values, describe_auto

    # S2A train.py --cfg auto: 256² on 1 GPU -> batch 16, gamma 0.0002·256²/16 = 0.8192,
    # ema 16·10/32 = 5 kimg, lr 0.0025 below 1024²; 1024² on 8 GPUs -> batch 32, lr 0.002
    a = auto_values(256, 1, fine_tune=True)
    assert (a["batch"], a["batch_gpu"]) == (16, 16)
    assert a["loss"]["r1_gamma"] == pytest.approx(0.8192)
    assert a["ema"] == {"kimg": 5.0, "rampup": None}  # resuming: no ramp-up, as S2A
    assert a["optim"] == {"g_lr": 0.0025, "d_lr": 0.0025}
    assert a["augment"] == {"mode": "ada", "adjust_kimg": 100.0} and a["data"] == {"xflip": False}
    b = auto_values(1024, 8, fine_tune=False)
    assert (b["batch"], b["batch_gpu"], b["optim"]["g_lr"]) == (32, 4, 0.002)
    assert b["loss"]["r1_gamma"] == pytest.approx(0.0002 * 1024**2 / 32)
    assert b["ema"]["rampup"] == 0.05 and b["augment"]["adjust_kimg"] == 500.0
    assert auto_values(64, 1, True)["batch"] == 32  # min(4096 // 64, 32)

    cfg = resolve_config(config_files=["auto"], assignments=["loss.r1_gamma=2"], auto=a)
    assert (cfg.batch, cfg.loss.r1_gamma, cfg.augment.mode, cfg.data.xflip) == (
        16,
        2.0,
        "ada",
        False,
    )
    line = describe_auto(a, 256, 1)
    assert line.startswith("--config auto (256², 1 GPU): batch=16") and "r1_gamma=0.8192" in line


def test_config_auto_through_prepare_prints_the_resolved_values(tmp_path, tiny_data, tiny_ckpt):
    import torch

    from tests.helpers.tiny import TINY_SETTINGS
    from zizi.train.setup import TrainJob, prepare

    p = prepare(
        TrainJob(
            out=tmp_path / "runs",
            data=tiny_data,
            resume=str(tiny_ckpt),
            config_files=["auto"],
            assignments=[s for s in TINY_SETTINGS if not s.startswith(("batch", "loss.r1_gamma"))],
        ),
        torch.device("cpu"),
    )
    # 16² net, 1 process: batch max(min(4096 // 16, 32), 1) = 32, gamma 0.0002·256/32
    assert p.trainer.cfg.batch == 32 and p.trainer.cfg.loss.r1_gamma == pytest.approx(0.0016)
    assert [n for n in p.notes if n.startswith("--config auto (16², 1 GPU): batch=32")]
    assert "--config auto" in (p.run_path / "log.txt").read_text()


def test_numbers_in_the_forms_people_type():
    # YAML 1.1 reads 1e-8 (no dot) and 1_000 as text; Adam crashed on eps='1e-8'
    cfg = resolve_config(
        assignments=[
            "optim.eps=1e-8",
            "batch=32.0",
            "kimg=1e3",
            "loss.r1_gamma=2E-1",
            "data.max_size=1_000",
            "ema.rampup=5e-2",
            "batch_gpu= 8 ",
        ]
    )
    assert cfg.optim.eps == 1e-8 and isinstance(cfg.optim.eps, float)
    assert (
        cfg.batch,
        cfg.kimg,
        cfg.loss.r1_gamma,
        cfg.data.max_size,
        cfg.ema.rampup,
        cfg.batch_gpu,
    ) == (32, 1000.0, 0.2, 1000, 0.05, 8)
    assert isinstance(cfg.batch, int) and isinstance(cfg.data.max_size, int)
    for bad, why in (
        ("batch=3.5", "whole number"),
        ("optim.eps=abc", "must be a number"),
        ("kimg=inf", "finite"),
    ):
        with pytest.raises(ConfigError, match=why):
            resolve_config(assignments=[bad])


def test_adam_takes_an_eps_typed_as_1e_minus_8(tmp_path):
    import torch

    from zizi.train.optim import make_adam

    cfg = resolve_config(assignments=["optim.eps=1e-8"])
    opt = make_adam(
        torch.nn.Linear(2, 2), cfg.optim.g_lr, cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps, 4
    )
    assert opt.param_groups[0]["eps"] == 1e-8


def test_numbers_of_the_wrong_kind_are_one_config_error():
    """`--set optim.eps=1e-7` is what a person types; YAML 1.1 reads it as a string.
    (Found by the step contract tests: it reached Adam and raised a TypeError.)"""
    cfg = resolve_config(assignments=["optim.eps=1e-7", "loss.r1_gamma=2e-1", "ema.rampup=5e-2"])
    assert (cfg.optim.eps, cfg.loss.r1_gamma, cfg.ema.rampup) == (1e-7, 0.2, 0.05)
    for text, words in (
        ("optim.g_lr=fast", "g_lr must be a number"),
        ("loss.r1_gamma=[1]", "r1_gamma must be a number"),
        ("kimg=true", "kimg must be a number"),
        ("batch=4.5", "batch must be a whole number"),
        ("freeze.mapping=3", "mapping must be true or false"),
    ):
        with pytest.raises(ConfigError, match=words):
            resolve_config(assignments=[text])
