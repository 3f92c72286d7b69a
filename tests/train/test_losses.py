"""The losses and regularisers equal their definitions, computed by hand or by direct autograd."""

import math

import pytest
import torch

from zizi.train import losses
from zizi.train.ema import ema_beta, update_ema
from zizi.train.optim import finite_grads, lazy_reg_correction, make_adam


def test_logistic_losses_match_hand_values():
    logits = torch.tensor([[0.0], [2.0], [-1.0]])
    # softplus(-x) = log(1 + e^-x)
    assert torch.allclose(
        losses.g_loss(logits).flatten(),
        torch.tensor([math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.e)]),
    )
    fake, real = losses.d_loss(real_logits=torch.tensor([[1.0]]), fake_logits=torch.tensor([[3.0]]))
    assert fake.item() == pytest.approx(math.log(1 + math.exp(3)))
    assert real.item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_r1_equals_direct_gradient_norm():
    torch.manual_seed(0)
    w = torch.randn(3, 2, 2)
    x = torch.randn(4, 3, 2, 2, requires_grad=True)

    def D(img):
        return (img * w).sum(dim=[1, 2, 3]).tanh().unsqueeze(1)  # [N, 1]

    penalty = losses.r1_penalty(x, D(x))
    # d tanh(a)/dx = (1 - tanh²(a)) w, per sample
    a = (x * w).sum(dim=[1, 2, 3])
    expected = ((1 - a.tanh() ** 2) ** 2) * w.square().sum()
    assert torch.allclose(penalty, expected, atol=1e-6)
    penalty.sum().backward()  # create_graph: the penalty itself is differentiable
    assert x.grad is not None


def test_path_length_equals_direct_jacobian_product():
    torch.manual_seed(0)
    n, num_ws, w_dim, h = 3, 2, 4, 2
    A = torch.randn(num_ws, w_dim, 3 * h * h)
    ws = torch.randn(n, num_ws, w_dim, requires_grad=True)
    fake = torch.einsum("nkw,kwp->np", ws, A).reshape(n, 3, h, h)
    gen = torch.Generator().manual_seed(5)
    lengths = losses.path_lengths(fake, ws, gen)
    y = torch.randn(fake.shape, generator=torch.Generator().manual_seed(5)) / math.sqrt(h * h)
    # the image is linear in ws: J_wᵀ y for ws[k] is A[k] @ y
    g = torch.einsum("kwp,np->nkw", A, y.reshape(n, -1))
    expected = g.square().sum(2).mean(1).sqrt()
    assert torch.allclose(lengths, expected, atol=1e-5)

    pl_mean = torch.tensor(0.5)
    penalty, new_mean = losses.pl_penalty(lengths, pl_mean, 0.01)
    want_mean = 0.5 + 0.01 * (expected.mean() - 0.5)
    assert new_mean.item() == pytest.approx(want_mean.item(), rel=1e-6)
    assert torch.allclose(penalty, (expected - want_mean) ** 2, atol=1e-5)


def test_style_mixing_takes_later_ws_from_a_second_latent():
    from tests.helpers.tiny import tiny_nets
    from zizi.nets.generator import Generator

    torch.manual_seed(0)
    G = Generator(tiny_nets()[0])
    z = torch.randn(64, G.z_dim)
    plain = G.mapping(z)
    mixed = losses.mix_styles(G, z, None, 0.9, torch.Generator().manual_seed(1))
    same = (mixed == plain).all(dim=2)  # [N, num_ws]
    # each sample keeps a prefix of its own ws and (if mixed) the rest from another z
    for row in same:
        k = int(row.long().cumprod(0).sum())
        assert k >= 1 and not row[k:].any()
    frac_mixed = (~same.all(dim=1)).float().mean().item()
    assert 0.7 < frac_mixed < 1.0
    assert torch.equal(losses.mix_styles(G, z, None, 0.0), plain)


def test_ema_half_life_and_rampup():
    assert ema_beta(32, 10, None, 0) == pytest.approx(0.5 ** (32 / 10_000))
    # after half_life images at that beta, half the old value remains
    assert ema_beta(10, 0.01, None, 0) == pytest.approx(0.5)
    # ramp-up: half-life capped at rampup × images seen
    assert ema_beta(32, 10, 0.05, 1000) == pytest.approx(0.5 ** (32 / 50))
    assert ema_beta(32, 10, 0.05, 10**9) == pytest.approx(0.5 ** (32 / 10_000))
    g, g_ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = g_ema.weight.detach().clone()
    update_ema(g_ema, g, 0.25)
    assert torch.allclose(g_ema.weight, g.weight + 0.25 * (before - g.weight))


def test_lazy_regularisation_corrects_lr_and_betas():
    lr, (b1, b2) = lazy_reg_correction(0.002, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.002 * 16 / 17)
    assert (b1, b2) == (0.0, pytest.approx(0.99 ** (16 / 17)))
    assert lazy_reg_correction(0.002, (0.0, 0.99), None) == (0.002, (0.0, 0.99))
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    net[0].requires_grad_(False)  # frozen layers are not in the optimiser at all
    opt = make_adam(net, 0.002, 0.0, 0.99, 1e-8, 4)
    group = opt.param_groups[0]
    assert len(group["params"]) == 2 and group["lr"] == pytest.approx(0.002 * 0.8)
    assert group["betas"][1] == pytest.approx(0.99**0.8)


def test_gradients_are_made_finite():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0])
    finite_grads([p])
    assert torch.isfinite(p.grad).all() and p.grad[0] == 0 and p.grad[3] == 1


def test_w_avg_follows_the_mean_w_of_each_minibatch():
    from types import SimpleNamespace

    from tests.helpers.tiny import tiny_nets
    from zizi.nets.generator import Generator
    from zizi.train.step import _track_w_avg

    G = Generator(tiny_nets()[0])
    G.mapping.w_avg.fill_(1.0)
    mean_w = torch.randn(G.w_dim)
    _track_w_avg(SimpleNamespace(G=G, world=1), mean_w[None])
    beta = G.mapping.w_avg_beta  # 0.995: w_avg ← mean + β·(w_avg − mean)
    assert torch.allclose(G.mapping.w_avg, mean_w + beta * (1.0 - mean_w))
