"""Projection: a known latent comes back, the schedule and the regulariser behave."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers.tiny import WIDE, tiny_nets
from zizi.mirror import losses
from zizi.mirror.project import (
    ProjectConfig,
    learning_rate,
    noise_layers,
    noise_regularizer,
    project,
    synthesize_projection,
    w_stats,
)
from zizi.nets.discriminator import Discriminator
from zizi.nets.generator import Generator

# A tiny generator with its initial (untrained) weights: unlike random-valued state dicts,
# its images depend strongly on w, so "found the latent" is a real test.
# PSNR to beat after 80 steps: w measured ~39-42 dB, w+ (8x the unknowns) ~22 dB; the w_avg
# start is ~7 dB.
PSNR_THRESHOLD_DB = {"w": 25.0, "w+": 18.0}


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    g, d = tiny_nets(16, **WIDE)
    return Generator(g).eval(), Discriminator(d).eval()


def _target(G, seed=5):
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ws = G.mapping(z, None)
        return ws, G.synthesis(ws, noise_mode="const")


@pytest.mark.parametrize("space", ["w", "w+"])
def test_known_latent_projects_back(nets, space):
    G, D = nets
    ws_true, target = _target(G)
    cfg = ProjectConfig(steps=80, space=space, w_avg_samples=1000)
    w_avg, _ = w_stats(G, cfg.w_avg_samples, cfg.seed)
    with torch.no_grad():
        start = G.synthesis(w_avg[:, None].expand(1, G.num_ws, -1), noise_mode="const")
    before = {k: m.noise_const.clone() for k, m in noise_layers(G).items()}
    buffers = {k: m.noise_const for k, m in noise_layers(G).items()}
    p = project(G, target, losses.OwnDistance(D, target), cfg)
    img = synthesize_projection(G, p)
    got, start_psnr = losses.psnr(img, target), losses.psnr(start, target)
    assert got > PSNR_THRESHOLD_DB[space], (got, start_psnr)
    assert got > start_psnr + 10
    assert p.losses[-1] < p.losses[0]
    assert p.ws.shape == (1, G.num_ws, G.w_dim)
    if space == "w":  # one w broadcast to every layer
        assert torch.equal(p.ws[:, :1].expand_as(p.ws), p.ws)
        assert (p.ws - ws_true).norm() < 0.2 * ws_true.norm()
    for k, m in noise_layers(G).items():  # G's own noise maps are left as they were
        assert torch.equal(m.noise_const, before[k])
        assert m.noise_const is buffers[k]  # the same tensor: in-place blenders still see it
    assert not any(t.requires_grad for t in p.noise.values())


def test_same_seed_same_reflection(nets):
    G, D = nets
    _, target = _target(G, seed=7)
    cfg = ProjectConfig(steps=5, w_avg_samples=500)
    a = project(G, target, losses.OwnDistance(D, target), cfg)
    b = project(G, target, losses.OwnDistance(D, target), cfg)
    assert torch.equal(a.ws, b.ws)


def test_learning_rate_ramps_up_and_down():
    cfg = ProjectConfig()
    assert learning_rate(cfg, 0.0) == 0.0
    assert learning_rate(cfg, 0.5) == pytest.approx(cfg.initial_lr)
    assert learning_rate(cfg, 0.025) == pytest.approx(cfg.initial_lr / 2)
    assert learning_rate(cfg, 0.875) == pytest.approx(cfg.initial_lr / 2)
    assert learning_rate(cfg, 0.999) < 1e-4


def test_noise_regularizer_penalises_correlated_noise():
    gen = torch.Generator().manual_seed(0)
    white = torch.randn(32, 32, generator=gen)
    smooth = torch.nn.functional.avg_pool2d(white[None, None], 5, 1, 2)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_regularizer([white]) < 0.01 * noise_regularizer([smooth])
    # hand value for a constant map at 8x8: each shift's mean product is 1 -> 1 + 1
    assert float(noise_regularizer([torch.ones(8, 8)])) == pytest.approx(2.0)


def test_ssim_and_psnr():
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=gen)).clamp(-1, 1)
    assert torch.allclose(losses.ms_ssim(a, a), torch.ones(2), atol=1e-5)
    assert (losses.ms_ssim(a, b) < 0.9).all()
    assert losses.psnr(a, a) == math.inf
    assert losses.psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.2)) == pytest.approx(
        20.0
    )


def _vgg_state(seed=0):
    torch.manual_seed(seed)
    return losses.VGG16Features().state_dict()


def test_perceptual_file_loads_and_measures(tmp_path):
    path = tmp_path / "vgg16.pt"
    torch.save(_vgg_state(), path)
    lin = {
        f"lin{k}.model.1.weight": torch.rand(1, ch, 1, 1)  # as the lpips package names them
        for k, ch in enumerate((64, 128, 256, 512, 512))
    }
    lin_path = tmp_path / "lpips-vgg.pth"
    torch.save(lin, lin_path)
    assert losses.load_perceptual(path)[1] is None  # the trunk alone: uniform layer weights
    net, lins = losses.load_perceptual([path, lin_path])
    assert lins is not None and len(lins) == 5
    gen = torch.Generator().manual_seed(2)
    t = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    dist = losses.VGGDistance(net, lins, t)
    other = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    assert float(dist(t)) < 1e-6 < float(dist(other))


def test_perceptual_bad_files_are_one_clear_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(losses.PerceptualWeightsError, match="not a weights file"):
        losses.load_perceptual(junk)
    partial = tmp_path / "partial.pt"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(losses.PerceptualWeightsError, match="not a VGG16 state dict"):
        losses.load_perceptual(partial)
    with pytest.raises(losses.PerceptualWeightsError, match="not found"):
        losses.load_perceptual(tmp_path / "missing.pt")
