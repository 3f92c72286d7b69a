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
    cfg = resolve_config(config_files=[a, b], assignments=["loss.r1_gamma=7", "kimg=6"],
                         flags={"kimg": 0.2, "batch": None})
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


def test_numbers_of_the_wrong_kind_are_one_config_error():
    """`--set optim.eps=1e-7` is what a person types; YAML 1.1 reads it as a string.
    (Found by the step contract tests: it reached Adam and raised a TypeError.)"""
    cfg = resolve_config(assignments=["optim.eps=1e-7", "loss.r1_gamma=2e-1", "ema.rampup=5e-2"])
    assert (cfg.optim.eps, cfg.loss.r1_gamma, cfg.ema.rampup) == (1e-7, 0.2, 0.05)
    for text, words in (("optim.g_lr=fast", "optim.g_lr must be a number"),
                        ("loss.r1_gamma=[1]", "loss.r1_gamma must be a number"),
                        ("kimg=true", "kimg must be a number"),
                        ("batch=4.5", "batch must be a whole number"),
                        ("freeze.mapping=3", "freeze.mapping must be true or false")):
        with pytest.raises(ConfigError, match=words):
            resolve_config(assignments=[text])
