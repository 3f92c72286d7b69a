"""Parity of a conditional network (c_dim = 4) with the reference implementation's outputs.

`sg2ada-cond-tiny.pkl` was written by stylegan2-ada-pytorch; its expected outputs were
computed there with one class per seed (`classes`, one-hot `c`). Unlike the round-trip
tests, this compares zizi with the reference, so the label embedding's normalisation,
the concatenation order and D's projection (cmap) are all checked against the original.
"""

import numpy as np
import pytest
import torch

from tests.helpers.tiny import FIXTURES
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import import_checkpoint

TOL = 1e-4


@pytest.fixture(scope="module")
def cond():
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg2ada-cond-tiny.pkl")
    return ckpt, dict(np.load(FIXTURES / "nvlabs" / "sg2ada-cond-tiny-expected.npz"))


def test_fixture_is_conditional(cond):
    ckpt, exp = cond
    assert ckpt.g_config.c_dim == ckpt.d_config.c_dim == 4
    np.testing.assert_array_equal(exp["c"], np.eye(4, dtype=np.float32)[exp["classes"]])
    assert ckpt.d_config.mapping.num_layers == 2


def test_mapping_with_labels(cond):
    ckpt, exp = cond
    G = build_generator(ckpt)
    z, c = torch.from_numpy(exp["z"]), torch.from_numpy(exp["c"])
    with torch.no_grad():
        np.testing.assert_allclose(G.mapping(z, c).numpy(), exp["ws"], atol=TOL, rtol=0)
        np.testing.assert_allclose(
            G.mapping(z, c, truncation_psi=0.5).numpy(), exp["ws_psi0p5"], atol=TOL, rtol=0
        )


@pytest.mark.parametrize("key,psi", [("img_psi1_const", 1.0), ("img_psi0p5_const", 0.5)])
def test_images_with_labels(cond, key, psi):
    ckpt, exp = cond
    G = build_generator(ckpt)
    with torch.no_grad():
        img = G(
            torch.from_numpy(exp["z"]),
            torch.from_numpy(exp["c"]),
            truncation_psi=psi,
            noise_mode="const",
        )
    np.testing.assert_allclose(img.numpy(), exp[key], atol=TOL, rtol=0)


def test_discriminator_logits_with_labels(cond):
    ckpt, exp = cond
    D = build_discriminator(ckpt)
    with torch.no_grad():
        logits = D(torch.from_numpy(exp["img_psi1_const"]), torch.from_numpy(exp["c"]))
    np.testing.assert_allclose(logits.numpy(), exp["d_logits_of_img_psi1_const"], atol=TOL, rtol=0)
