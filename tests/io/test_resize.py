"""Resolution surgery: a lower-resolution G/D made from a higher one.

Similarity is measured between the small generator's output and the big generator's
output box-downsampled to the same size, for the same z (noise_mode 'const'):
`corr` is the mean per-image Pearson correlation; `zcorr` correlates the z-dependent part
(each pixel minus its mean over the batch), i.e. "is it the same face", with the
mismatched-z value as the chance baseline. Figures are recorded in docs/checkpoints.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers.cli import invoke
from tests.helpers.tiny import FIXTURES, tiny_checkpoint
from zizi.errors import ConfigError
from zizi.io.checkpoint import (
    build_discriminator,
    build_generator,
    load_checkpoint,
    save_checkpoint,
)
from zizi.io.importers import import_checkpoint
from zizi.io.resize import resize_checkpoint


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean().item()


def similarity(ckpt, resolution: int, n: int = 64) -> dict[str, float]:
    big = build_generator(ckpt)
    small = build_generator(resize_checkpoint(ckpt, resolution))
    z = torch.from_numpy(np.random.RandomState(0).randn(n, big.z_dim)).float()
    with torch.no_grad():
        hi = big(z, noise_mode="const")
        lo = small(z, noise_mode="const")  # [N, 3, r, r]
    down = F.avg_pool2d(hi, hi.shape[-1] // resolution)  # box filter to [N, 3, r, r]
    lc, dc = lo - lo.mean(0), down - down.mean(0)
    return {
        "corr": _corr(lo, down),
        "zcorr": _corr(lc, dc),
        "zcorr_other_z": _corr(lc, dc.roll(1, 0)),
        "r2": 1 - ((lo - down) ** 2).mean().item() / down.var().item(),
    }


@pytest.fixture(scope="module")
def fixture_ckpt():
    return import_checkpoint(FIXTURES / "nvlabs" / "sg2ada-tiny.pkl")


def test_generator_keeps_coarse_structure(fixture_ckpt):
    # Measured: 32->16 corr 0.85, zcorr 0.70 (other z: -0.09), R² 0.65;
    #           32->8  corr 0.81, zcorr 0.47 (other z: -0.06), R² 0.56.
    s16 = similarity(fixture_ckpt, 16)
    assert s16["corr"] > 0.8 and s16["zcorr"] > 0.6 and abs(s16["zcorr_other_z"]) < 0.2
    s8 = similarity(fixture_ckpt, 8)
    assert s8["zcorr"] > 0.35 and abs(s8["zcorr_other_z"]) < 0.2


def test_random_init_generator_keeps_z_structure():
    # Measured: 64->32 zcorr 0.96, 64->16 zcorr 0.84 (other z: -0.01).
    s = similarity(tiny_checkpoint(64), 16)
    assert s["zcorr"] > 0.75 and abs(s["zcorr_other_z"]) < 0.2


def test_kept_tensors_are_unchanged_and_d_runs(fixture_ckpt, tmp_path):
    small = resize_checkpoint(fixture_ckpt, 16, seed=7)
    assert small.g_config.img_resolution == 16 and small.g_config.num_ws == 6
    for net in ("G_ema", "G"):
        for k, v in small.tensors[net].items():
            assert torch.equal(v, fixture_ckpt.tensors[net][k]), k
        assert not any(k.startswith("synthesis.b32.") for k in small.tensors[net])
    d = small.tensors["D"]
    assert "b16.fromrgb.weight" in d and "b32.conv0.weight" not in d
    for k, v in d.items():
        if "fromrgb" not in k:
            assert torch.equal(v, fixture_ckpt.tensors["D"][k]), k
    again = resize_checkpoint(fixture_ckpt, 16, seed=7)
    assert torch.equal(again.tensors["D"]["b16.fromrgb.weight"], d["b16.fromrgb.weight"])
    # The result is a complete checkpoint: it saves, loads strictly and runs.
    back = load_checkpoint(save_checkpoint(tmp_path / "small.safetensors", small))
    assert back.provenance["resized_from"] == 32
    img = build_generator(back)(torch.randn(4, 32), noise_mode="const")
    assert build_discriminator(back)(img).shape == (4, 1)


def test_refuses_upscaling_and_too_small(fixture_ckpt):
    with pytest.raises(ConfigError, match="cannot raise"):
        resize_checkpoint(fixture_ckpt, 64)
    with pytest.raises(ConfigError, match="at least 8"):
        resize_checkpoint(fixture_ckpt, 4)
    assert resize_checkpoint(fixture_ckpt, 32) is fixture_ckpt


def test_cli_resize(tmp_path):
    src = save_checkpoint(tmp_path / "t.safetensors", tiny_checkpoint(16))
    out = tmp_path / "t8.safetensors"
    result = invoke("resize", src, "--resolution", "8", "--out", out)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out).g_config.img_resolution == 8
    bad = invoke("resize", src, "--resolution", "32", "--out", tmp_path / "u.safetensors")
    assert bad.exit_code == 1 and "cannot raise" in bad.output
    same = invoke("resize", src, "--resolution", "16", "--out", tmp_path / "s.safetensors")
    assert same.exit_code == 2 and "already 16x16" in same.output
    assert not (tmp_path / "s.safetensors").exists()
