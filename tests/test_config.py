"""Config schema: presets load, typos are caught with a suggestion."""

from pathlib import Path

import pytest

from zizi.config import GeneratorConfig, load_yaml
from zizi.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "nets"


@pytest.mark.parametrize("name", ["ffhq-1024", "ffhq-256", "tiny"])
def test_presets_load(name):
    cfg = load_yaml(CONFIGS / f"{name}.yaml", GeneratorConfig)
    assert cfg.num_ws == 2 * cfg.img_resolution.bit_length() - 4


def test_ffhq_preset_is_config_f():
    import torch

    from zizi.nets.generator import Generator

    with torch.device("meta"):
        G = Generator(load_yaml(CONFIGS / "ffhq-1024.yaml", GeneratorConfig))
    assert sum(p.numel() for p in G.parameters()) == 30_370_060


def test_typo_gets_a_suggestion(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("img_resolutoin: 256\n")
    with pytest.raises(ConfigError, match="did you mean 'img_resolution'"):
        load_yaml(bad, GeneratorConfig)
    nested = tmp_path / "nested.yaml"
    nested.write_text("mapping:\n  num_layer: 4\n")
    with pytest.raises(ConfigError, match="did you mean 'num_layers'"):
        load_yaml(nested, GeneratorConfig)


@pytest.mark.parametrize("res", [0, 3, 48, 8192])
def test_bad_resolution(res):
    with pytest.raises(ConfigError, match="power of two"):
        GeneratorConfig(img_resolution=res)
