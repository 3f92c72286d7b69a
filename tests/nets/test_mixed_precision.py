"""The fp16 path (top resolutions, conv_clamp) computes the same images, within fp16 error.

fp16 is used on CUDA only; here the device check is patched so the CPU runs the same
code path (CPU fp16 convolutions exist, just slowly).
"""

import numpy as np
import pytest
import torch

from tests.helpers.tiny import FIXTURES
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import import_checkpoint


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    monkeypatch.setattr("zizi.nets.precision.fp16_supported", lambda device: True)


def test_fp16_blocks_match_reference(fp16_on_cpu):
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")  # num_fp16_res=2
    exp = np.load(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny-expected.npz")
    G, D = build_generator(ckpt), build_discriminator(ckpt)
    z = torch.from_numpy(exp["z"]).float()
    with torch.no_grad():
        img = G(z, noise_mode="const")
        img32 = G(z, noise_mode="const", force_fp32=True)
        logits = D(torch.from_numpy(exp["img_psi1_const"]))
    assert img.dtype == torch.float32  # ToRGB output is always accumulated in fp32
    np.testing.assert_allclose(img32.numpy(), exp["img_psi1_const"], atol=1e-4)
    err = np.abs(img.numpy() - exp["img_psi1_const"]).max()
    assert 0 < err < 0.05 * np.abs(exp["img_psi1_const"]).max()  # fp16 really ran, and agrees
    np.testing.assert_allclose(logits.numpy(), exp["d_logits_of_img_psi1_const"], atol=0.05)


def test_fp16_runs_only_where_configured(fp16_on_cpu):
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")
    G = build_generator(ckpt)
    seen = {}
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        block.conv1.register_forward_hook(lambda m, i, o, r=res: seen.__setitem__(r, o.dtype))
    with torch.no_grad():
        G(torch.randn(2, G.z_dim))
    assert seen == {4: torch.float32, 8: torch.float32, 16: torch.float16, 32: torch.float16}
