"""Freezing for fine-tuning (zizi.train.freeze): what is frozen, and that it stays put."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.tiny import tiny_modules
from zizi.errors import ConfigError
from zizi.train.freeze import apply_freezing

R = 16


def _nets():
    torch.manual_seed(0)
    G, D = tiny_modules(R)
    return G.train(), D.train()


def test_nothing_is_frozen_by_default_and_everything_is_made_trainable():
    G, D = _nets()
    G.requires_grad_(False)
    assert apply_freezing(G, D) == []
    assert all(p.requires_grad for p in [*G.parameters(), *D.parameters()])


def test_freeze_d_freezes_the_layers_nearest_the_image():
    G, D = _nets()
    frozen = apply_freezing(G, D, d_layers=3)
    # 16 px: b16 is the top block, read through fromrgb; FreezeD counts fromrgb, conv0, conv1.
    assert frozen == [
        f"D.b16.{layer}.{p}" for layer in ("fromrgb", "conv0", "conv1") for p in ("weight", "bias")
    ]
    assert all(p.requires_grad for p in D.b16.skip.parameters())
    assert all(p.requires_grad for p in D.b8.parameters())
    assert all(p.requires_grad for p in G.parameters())
    all_layers = len(D.layers())
    frozen = apply_freezing(G, D, d_layers=all_layers)
    assert {n.split(".")[1] for n in frozen} == {"b16", "b8"}
    assert all(p.requires_grad for p in D.b4.parameters())  # the epilogue always trains
    with pytest.raises(ConfigError, match="conv layers"):
        apply_freezing(G, D, d_layers=all_layers + 1)


def test_freeze_mapping_and_g_blocks_below_a_resolution():
    G, D = _nets()
    frozen = set(apply_freezing(G, D, mapping=True, g_below_res=16))
    want = {
        f"G.{n}"
        for n, _ in G.named_parameters()
        if n.startswith(("mapping.", "synthesis.b4.", "synthesis.b8."))
    }
    assert frozen == want
    assert all(p.requires_grad for p in G.synthesis.b16.parameters())
    # A second call starts afresh: nothing stays frozen from the first.
    assert apply_freezing(G, D) == []
    with pytest.raises(ConfigError, match="power of two"):
        apply_freezing(G, D, g_below_res=12)
    with pytest.raises(ConfigError, match="power of two"):
        apply_freezing(G, D, g_below_res=64)


def test_frozen_parameters_get_no_gradient_no_optimiser_state_and_stay_bit_identical():
    G, D = _nets()
    apply_freezing(G, D, d_layers=2, mapping=True, g_below_res=8)
    before = {
        n: p.detach().clone()
        for n, p in [*G.named_parameters(prefix="G"), *D.named_parameters(prefix="D")]
    }
    opt_g = torch.optim.Adam(
        [p for p in G.parameters() if p.requires_grad], lr=0.01, betas=(0.0, 0.99)
    )
    opt_d = torch.optim.Adam(
        [p for p in D.parameters() if p.requires_grad], lr=0.01, betas=(0.0, 0.99)
    )
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        z = torch.randn(4, G.z_dim, generator=gen)
        loss_g = torch.nn.functional.softplus(-D(G(z, noise_mode="random"))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        reals = torch.rand(4, 3, R, R, generator=gen) * 2 - 1
        loss_d = (
            torch.nn.functional.softplus(D(G(z).detach())).mean()
            + torch.nn.functional.softplus(-D(reals)).mean()
        )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    state_ids = {id(p) for opt in (opt_g, opt_d) for p in opt.state}
    for prefix, net in (("G", G), ("D", D)):
        for n, p in net.named_parameters(prefix=prefix):
            if p.requires_grad:
                assert not torch.equal(p, before[n]), f"{n} did not train"
            else:
                assert p.grad is None and id(p) not in state_ids
                assert torch.equal(p, before[n]), f"frozen {n} changed"
