"""The foreach/fused forms of the per-parameter updates give what the plain loops give."""

import torch

from zizi.train.ema import update_ema
from zizi.train.optim import finite_grads, make_adam


def _nets(seed: int):
    torch.manual_seed(seed)
    return (
        torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)),
        torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)),
    )


def test_ema_matches_the_definition_and_skips_frozen_and_copies_buffers():
    g, g_ema = _nets(0)
    g.register_buffer("w_avg", torch.randn(3))
    g_ema.register_buffer("w_avg", torch.zeros(3))
    before = {n: p.detach().clone() for n, p in g_ema.named_parameters()}
    update_ema(g_ema, g, 0.9, frozen={"1.bias"})
    for (n, pe), p in zip(g_ema.named_parameters(), g.parameters(), strict=True):
        want = before[n] if n == "1.bias" else p + 0.9 * (before[n] - p)
        torch.testing.assert_close(pe, want, rtol=1e-6, atol=1e-7)
    assert torch.equal(g_ema.w_avg, g.w_avg)


def test_finite_grads_repairs_bad_values_and_leaves_good_ones_bit_identical():
    ps = [torch.nn.Parameter(torch.zeros(5)) for _ in range(3)]
    good = torch.randn(5)
    ps[0].grad = good.clone()
    ps[1].grad = torch.tensor([float("nan"), float("inf"), -float("inf"), 2.0, -3.0])
    ps[2].grad = None  # untouched this phase: stays None
    finite_grads(ps)
    assert torch.equal(ps[0].grad, good)
    assert ps[1].grad.tolist() == [0.0, 1e5, -1e5, 2.0, -3.0]
    assert ps[2].grad is None
    finite_grads(ps[:1])  # all finite: nothing changes
    assert torch.equal(ps[0].grad, good)


def test_fused_adam_follows_the_loop_adam():
    net, ref = _nets(1)
    ref.load_state_dict(net.state_dict())
    opt = make_adam(net, 0.01, 0.0, 0.99, 1e-8, 4)
    assert opt.param_groups[0]["fused"]  # the one-kernel update on CPU and CUDA
    ref_opt = torch.optim.Adam(
        ref.parameters(), lr=0.01 * 0.8, betas=(0.0, 0.99**0.8), eps=1e-8, foreach=False
    )
    x = torch.randn(8, 3)
    for _ in range(5):
        for m, o in ((net, opt), (ref, ref_opt)):
            o.zero_grad()
            m(x).square().sum().backward()
            o.step()
    for a, b in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_channels_last_trains_like_the_default_layout():
    """speed.channels_last changes the memory layout only: the same step, to float rounding."""
    from tests.helpers.tiny import TINY_SETTINGS, tiny_nets
    from zizi.train.config import resolve_config
    from zizi.train.setup import fresh_checkpoint
    from zizi.train.step import train_step
    from zizi.train.trainer import Trainer

    ck = fresh_checkpoint(tiny_nets()[0])
    reals = torch.rand([4, 3, 16, 16], generator=torch.Generator().manual_seed(0)) * 2 - 1
    nets = []
    for cl in (False, True):
        cfg = resolve_config(assignments=[*TINY_SETTINGS, f"speed.channels_last={str(cl).lower()}"])
        t = Trainer(ck, cfg, torch.device("cpu"))
        w = t.G.synthesis.b16.conv1.weight
        assert w.is_contiguous(memory_format=torch.channels_last) == cl
        for _ in range(3):  # G main, path length, D main, R1 (every 2 here), G_ema
            train_step(t, reals, None)
        nets.append(t)
    for name in ("G", "D", "G_ema"):
        a, b = (dict(getattr(t, name).named_parameters()) for t in nets)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=f"{name}.{k}")
