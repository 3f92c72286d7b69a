"""Tiny networks take a real training step on the CPU: every trainable weight learns."""

import torch
import torch.nn.functional as F

from tests.helpers.tiny import tiny_modules, tiny_nets
from zizi.nets.discriminator import Discriminator
from zizi.nets.generator import Generator


def _step(G, D, c=None):
    z = torch.randn(4, G.z_dim)
    fake = G(z, c, noise_mode="random")
    real = torch.randn(4, 3, G.img_resolution, G.img_resolution).requires_grad_(True)
    # non-saturating logistic loss + R1 on reals (needs double backward through D)
    loss_g = F.softplus(-D(fake, c)).mean()
    real_logits = D(real, c)
    (r1_grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    loss_d = (
        F.softplus(D(fake.detach(), c)).mean()
        + F.softplus(-real_logits).mean()
        + r1_grad.square().sum(dim=[1, 2, 3]).mean()
    )
    return loss_g, loss_d


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    for c_dim in (0, 2):
        G = Generator(tiny_nets(16, c_dim=c_dim)[0]).train()
        D = Discriminator(tiny_nets(16, c_dim=c_dim)[1]).train()
        c = torch.eye(2)[torch.tensor([0, 1, 0, 1])] if c_dim else None
        loss_g, loss_d = _step(G, D, c)
        loss_g.backward()
        for name, p in G.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"G.{name} got no gradient"
        D.zero_grad()
        loss_d.backward()
        for name, p in D.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"D.{name} got no gradient"


def test_optimizer_step_changes_weights_and_loss_is_finite():
    torch.manual_seed(0)
    G, D = (net.train() for net in tiny_modules(8))
    opt = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.0, 0.99))
    before = {k: v.clone() for k, v in D.state_dict().items()}
    _, loss_d = _step(G, D)
    assert torch.isfinite(loss_d)
    loss_d.backward()
    opt.step()
    assert any(not torch.equal(before[k], v) for k, v in D.state_dict().items())


def test_frozen_layers_get_no_gradient():
    torch.manual_seed(0)
    G, D = (net.train() for net in tiny_modules(16))
    D.freeze_layers(2)  # FreezeD: fromrgb and conv0 of the top block
    frozen = {n for n, p in D.named_parameters() if not p.requires_grad}
    assert frozen == {
        "b16.fromrgb.weight",
        "b16.fromrgb.bias",
        "b16.conv0.weight",
        "b16.conv0.bias",
    }
    _, loss_d = _step(G, D)
    loss_d.backward()
    for name, p in D.named_parameters():
        if name in frozen:
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
