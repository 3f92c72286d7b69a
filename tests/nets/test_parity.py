"""Parity with the reference implementation's outputs on the shared NVIDIA fixtures."""

import numpy as np
import pytest
import torch

from tests.helpers.tiny import FIXTURES, NVLABS_FIXTURES
from zizi.io.checkpoint import (
    build_discriminator,
    build_generator,
    load_checkpoint,
    save_checkpoint,
)
from zizi.io.importers import import_checkpoint
from zizi.nets import generator

TOL = 1e-4


@pytest.fixture(scope="module", params=NVLABS_FIXTURES)
def imported(request):
    name = request.param
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / f"{name}.pkl")
    expected = dict(np.load(FIXTURES / "nvlabs" / f"{name}-expected.npz"))
    return name, ckpt, expected


def test_seeds_give_reference_z(imported):
    from zizi.latents import z_for_seeds

    _, ckpt, exp = imported
    z = z_for_seeds([int(s) for s in exp["seeds"]], ckpt.g_config.z_dim)
    np.testing.assert_array_equal(z.numpy(), exp["z"].astype(np.float32))


def test_mapping_and_w_avg(imported):
    _, ckpt, exp = imported
    G = build_generator(ckpt)
    z = torch.from_numpy(exp["z"]).float()
    np.testing.assert_allclose(G.mapping.w_avg.numpy(), exp["w_avg"], atol=0)
    np.testing.assert_allclose(G.mapping(z).numpy(), exp["ws"], atol=TOL, rtol=0)
    np.testing.assert_allclose(
        G.mapping(z, truncation_psi=0.5).numpy(), exp["ws_psi0p5"], atol=TOL, rtol=0
    )


@pytest.mark.parametrize(
    "key,psi,noise_mode",
    [
        ("img_psi1_const", 1.0, "const"),
        ("img_psi0p5_const", 0.5, "const"),
        ("img_psi1_none", 1.0, "none"),
    ],
)
@pytest.mark.parametrize("training_mode", [False, True], ids=["fused", "unfused"])
def test_generator_images(imported, key, psi, noise_mode, training_mode, monkeypatch):
    _, ckpt, exp = imported
    G = build_generator(ckpt).train(training_mode)  # train mode takes the non-fused modconv path
    if not training_mode:  # the grouped path, as a GPU runs it (the CPU runs it for 1 sample)
        monkeypatch.setattr(generator, "use_fused_modconv", lambda *a: True)
    z = torch.from_numpy(exp["z"]).float()
    with torch.no_grad():
        img = G(z, truncation_psi=psi, noise_mode=noise_mode)
    assert img.dtype == torch.float32 and img.shape == exp[key].shape
    np.testing.assert_allclose(img.numpy(), exp[key], atol=TOL, rtol=0)


def test_discriminator_logits(imported):
    _, ckpt, exp = imported
    D = build_discriminator(ckpt)
    with torch.no_grad():
        logits = D(torch.from_numpy(exp["img_psi1_const"]))
    np.testing.assert_allclose(logits.numpy(), exp["d_logits_of_img_psi1_const"], atol=TOL, rtol=0)


def test_random_noise_differs_from_const(imported):
    _, ckpt, exp = imported
    G = build_generator(ckpt)
    z = torch.from_numpy(exp["z"]).float()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        a = G(z, noise_mode="random", generator=g)
    assert (a - torch.from_numpy(exp["img_psi1_const"])).abs().max() > 1e-3


def test_import_save_load_bit_identical(imported, tmp_path):
    _, ckpt, exp = imported
    path = save_checkpoint(tmp_path / "x.safetensors", ckpt)
    again = load_checkpoint(path)
    assert again.g_config == ckpt.g_config and again.d_config == ckpt.d_config
    assert again.augment_p == pytest.approx(ckpt.augment_p)
    assert again.provenance == ckpt.provenance
    for net, sd in ckpt.tensors.items():
        assert set(again.tensors[net]) == set(sd)
        for k, t in sd.items():
            assert torch.equal(again.tensors[net][k], t), f"{net}.{k}"
    z = torch.from_numpy(exp["z"]).float()
    with torch.no_grad():
        for which in ("G_ema", "G"):
            a = build_generator(ckpt, which)(z, truncation_psi=0.7)
            b = build_generator(again, which)(z, truncation_psi=0.7)
            assert torch.equal(a, b)
        img = torch.from_numpy(exp["img_psi1_const"])
        assert torch.equal(build_discriminator(ckpt)(img), build_discriminator(again)(img))


def test_architecture_read_from_module_state():
    ada = import_checkpoint(FIXTURES / "nvlabs" / "sg2ada-tiny.pkl")
    sg3 = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")
    assert (ada.g_config.num_fp16_res, ada.g_config.conv_clamp) == (0, None)
    assert (sg3.g_config.num_fp16_res, sg3.g_config.conv_clamp) == (2, 256.0)
    assert (sg3.d_config.num_fp16_res, sg3.d_config.conv_clamp) == (2, 256.0)
    assert ada.g_config.mapping.w_avg_beta == 0.995 and sg3.g_config.mapping.w_avg_beta == 0.998
    assert (ada.g_config.channel_base, ada.g_config.channel_max) == (512, 64)
    # FreezeD: the ADA fixture's first two D layers are stored as buffers, and still imported.
    assert ada.extra["d_frozen_params"] == [
        "b32.fromrgb.weight",
        "b32.fromrgb.bias",
        "b32.conv0.weight",
        "b32.conv0.bias",
    ]
    assert "b32.fromrgb.weight" in ada.tensors["D"]
    assert ada.augment_p == pytest.approx(0.234)
