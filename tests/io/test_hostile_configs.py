"""Checkpoints whose config lies about their tensors are refused on one line, by every
command, before any network is built (issue #13 items 2 and 10)."""

from __future__ import annotations

import math

import pytest

from tests.helpers.cli import invoke, one_line
from tests.helpers.hostile import lying_config, nested_json_header, nested_zizi_document, set_keys
from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.errors import ConfigError

LIES = {
    "huge resolution and channels": set_keys(
        img_resolution=4096, channel_base=2**30, channel_max=2**20
    ),
    "4096² within the bounds": set_keys(img_resolution=4096, channel_base=2**20, channel_max=8192),
    "ten million mapping layers": set_keys(mapping__num_layers=10**7),
    "one mapping layer more than stored": set_keys(mapping__num_layers=3),
    "huge z_dim": set_keys(z_dim=10**9),
    "z_dim within bounds but not stored": set_keys(z_dim=4096),
    "NaN lr_multiplier": set_keys(mapping__lr_multiplier=math.nan),
    "negative lr_multiplier": set_keys(mapping__lr_multiplier=-0.01),
    "unknown activation": set_keys(mapping__activation="evil"),
    "infinite conv_clamp": set_keys(conv_clamp=math.inf),
    "resolution as text": set_keys(img_resolution="16"),
}


@pytest.fixture(scope="module", params=sorted(LIES))
def liar(request, tmp_path_factory):
    return lying_config(tmp_path_factory.mktemp("lie") / "lie.safetensors", LIES[request.param])


def test_info_shows_a_lying_file_as_damaged(liar):
    line = one_line(invoke("info", liar))
    assert "damaged" in line


def test_import_refuses_to_resave_a_lying_file(liar, tmp_path):
    out = tmp_path / "again.safetensors"
    line = one_line(invoke("import", liar, "--out", out), out=out)
    assert "damaged" in line


def test_generate_refuses_a_lying_file(liar, tmp_path):
    out = tmp_path / "gen"
    result = invoke("generate", liar, "--seeds", "0", "--out", out)
    assert "damaged" in one_line(result)
    assert not list(out.glob("*.png")) if out.exists() else True


def test_export_refuses_a_lying_file(liar, tmp_path):
    out = tmp_path / "x.pt"
    result = invoke("export", liar, "--out", out)
    assert "damaged" in one_line(result, out=out)  # was: KeyError traceback


def test_only_the_lying_net_is_named(tmp_path):
    f = lying_config(tmp_path / "d.safetensors", set_keys(mbstd_num_channels=2), nets=("D",))
    line = one_line(invoke("info", f))
    assert "D's tensors do not match its config" in line and "b4.conv.weight" in line


@pytest.mark.parametrize("make", [nested_json_header, nested_zizi_document])
@pytest.mark.parametrize("command", ["info", "generate", "export", "import"])
def test_deeply_nested_json_is_one_line(make, command, tmp_path):
    f = make(tmp_path / "deep.safetensors")
    args = {
        "info": [],
        "generate": ["--seeds", "0", "--out", str(tmp_path / "g")],
        "export": ["--out", str(tmp_path / "x.pt")],
        "import": ["--out", str(tmp_path / "y.safetensors")],
    }[command]
    line = one_line(invoke(command, f, *args))  # was: RecursionError
    assert "nests too deeply" in line


@pytest.mark.parametrize("psi", ["1e308", "-1e308", "1e39", "101"])
def test_generate_refuses_an_absurd_truncation(psi, tmp_path):
    from tests.helpers.hostile import tiny_zizi

    f = tiny_zizi(tmp_path / "ok.safetensors")
    result = invoke("generate", f, "--seeds", "0", "--trunc", psi, "--out", tmp_path / "g")
    assert "--trunc" in one_line(result)  # was: RuntimeError overflow traceback


# ----------------------------------------------------------------------- config bounds


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(z_dim=0),
        dict(z_dim=10**9),
        dict(w_dim=-1),
        dict(z_dim=8.5),
        dict(z_dim=True),
        dict(c_dim=-1),
        dict(c_dim=10**9),
        dict(img_channels=0),
        dict(img_channels=1000),
        dict(channel_base=2**30),
        dict(channel_max=10**6),
        dict(channel_base=8, img_resolution=16),
        dict(num_fp16_res=-1),
        dict(num_fp16_res=99),
        dict(conv_clamp=0),
        dict(conv_clamp=math.nan),
        dict(conv_clamp=math.inf),
        dict(conv_clamp="256"),
        dict(mapping=MappingConfig(num_layers=0)),
    ],
)
def test_generator_bounds(kwargs):
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_layers=-1),
        dict(num_layers=10**7),
        dict(lr_multiplier=math.nan),
        dict(lr_multiplier=0),
        dict(lr_multiplier=-1),
        dict(lr_multiplier=math.inf),
        dict(w_avg_beta=2.0),
        dict(w_avg_beta=math.nan),
        dict(layer_features=0),
        dict(embed_features=10**9),
        dict(activation="evil"),
        dict(activation="lrelu "),
    ],
)
def test_mapping_bounds(kwargs):
    with pytest.raises(ConfigError):
        MappingConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mbstd_group_size=0),
        dict(mbstd_group_size=10**9),
        dict(mbstd_num_channels=-1),
        dict(mbstd_num_channels=3),
        dict(cmap_dim=0),
        dict(cmap_dim=10**9),
        dict(c_dim=-5),
    ],
)
def test_discriminator_bounds(kwargs):
    with pytest.raises(ConfigError):
        DiscriminatorConfig(**kwargs)


def test_sensible_configs_still_pass():
    GeneratorConfig(num_fp16_res=4, conv_clamp=256)  # config-f with ADA's settings
    GeneratorConfig(img_resolution=256, channel_base=16384, mapping=MappingConfig(lr_multiplier=1))
    DiscriminatorConfig(c_dim=10, cmap_dim=512, mbstd_group_size=None)
    MappingConfig(num_layers=0, w_avg_beta=None)  # a conditional D's label mapping may be empty
    import numpy as np

    assert type(GeneratorConfig(z_dim=np.int64(512)).z_dim) is int  # numpy ints become ints


def test_config_and_network_know_the_same_activations():
    from zizi.config import ACTIVATIONS
    from zizi.ops.bias_act import ACTIVATIONS as OPS

    assert set(ACTIVATIONS) == set(OPS)
