"""The training step's contract: what `step.train_step` hands each optimiser.

The pure helpers (penalties, EMA beta, lazy-reg correction, style mixing) are pinned in
test_losses.py. These tests pin their *call sites*: the losses are replaced by stand-ins
whose gradient with respect to one chosen parameter is known by hand, and the gradients
each `opt.step()` receives are recorded. So R1 must arrive as γ/2 × interval, the path-
length penalty as 2(L − a) × weight × interval, the G_ema as a lerp with the ramped-up β,
and so on, whatever the networks compute.

The running path-length mean follows stylegan2-ada-pytorch: it is advanced once per
round, and each round is penalised against the new mean *with* the gradient of that
round's mean length, so the path-length stand-in's slopes do not sum to zero and the
expected gradient carries the −decay·mean(slope) term. A parameter the phase does not touch
may get no gradient or a zero one (both are accepted).
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers.tiny import TINY_SETTINGS, tiny_nets
from zizi.io.checkpoint import Checkpoint
from zizi.train import losses
from zizi.train.config import resolve_config
from zizi.train.step import train_step
from zizi.train.trainer import Trainer

CPU = torch.device("cpu")


def _trainer(*settings: str, seed: int = 0) -> Trainer:
    from tests.helpers.tiny import randomized
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    g_cfg, d_cfg = tiny_nets()
    torch.manual_seed(seed)
    G, D = Generator(g_cfg), Discriminator(d_cfg)
    # G_ema differs from G, so an EMA step is visible in every tensor
    g_ema = randomized(G, seed + 7)
    ck = Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors={"G": G.state_dict(), "G_ema": g_ema, "D": D.state_dict()},
        provenance={"importer": "test"},
    )
    cfg = resolve_config(assignments=[*TINY_SETTINGS, *settings])
    return Trainer(ck, cfg, CPU)


def _reals(t: Trainer, seed: int = 1) -> torch.Tensor:
    res = t.G.img_resolution
    return (
        torch.rand([t.batch_local, 3, res, res], generator=torch.Generator().manual_seed(seed)) * 2
        - 1
    )


def _record(t: Trainer) -> dict[str, list[dict[str, torch.Tensor]]]:
    """Per network, the gradients of every parameter at each `opt.step()` (None → zeros)."""
    calls: dict[str, list[dict[str, torch.Tensor]]] = {"G": [], "D": []}
    for which, opt, net in (("G", t.opt_G, t.G), ("D", t.opt_D, t.D)):
        real_step = opt.step

        def step(*a, _real=real_step, _which=which, _net=net, **k):
            calls[_which].append(
                {
                    n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                    for n, p in _net.named_parameters()
                }
            )
            return _real(*a, **k)

        opt.step = step  # the instance attribute: only this trainer's optimiser is watched
    return calls


def _param(net: torch.nn.Module, needle: str) -> tuple[str, torch.nn.Parameter]:
    return next((n, p) for n, p in net.named_parameters() if needle in n and p.requires_grad)


def _assert_only(grads: dict[str, torch.Tensor], name: str, want: torch.Tensor) -> None:
    """`name`'s gradient is `want`; every other parameter's is zero."""
    torch.testing.assert_close(grads[name], want, rtol=1e-5, atol=1e-6)
    for n, g in grads.items():
        if n != name:
            assert not g.any(), f"{n} got a gradient from a loss that does not involve it"


# -- gradients of the four phases -------------------------------------------------------------


@pytest.mark.parametrize("batch_gpu", ["null", "2"])  # one round, or two accumulated rounds
def test_main_phases_hand_their_losses_mean_gradient_to_the_optimisers(monkeypatch, batch_gpu):
    t = _trainer("loss.r1_gamma=0", "loss.pl_weight=0", f"batch_gpu={batch_gpu}")
    g_name, g_theta = _param(t.G, "synthesis")
    d_name, d_theta = _param(t.D, "b16")
    # per-sample losses with d/dθ = 1 (G) and 1 + 2 = 3 (D); logits × 0 keeps the graph real
    monkeypatch.setattr(losses, "g_loss", lambda fl: fl.flatten() * 0 + g_theta.sum())
    monkeypatch.setattr(
        losses,
        "d_loss",
        lambda rl, fl: (fl.flatten() * 0 + d_theta.sum(), rl.flatten() * 0 + 2 * d_theta.sum()),
    )
    calls = _record(t)
    train_step(t, _reals(t), None)
    assert len(calls["G"]) == 1 and len(calls["D"]) == 1  # no regulariser is configured
    _assert_only(calls["G"][0], g_name, torch.ones_like(g_theta))
    _assert_only(calls["D"][0], d_name, torch.full_like(d_theta, 3.0))


@pytest.mark.parametrize("batch_gpu", ["null", "2"])
def test_r1_reaches_d_as_gamma_over_2_times_its_interval(monkeypatch, batch_gpu):
    gamma, interval = 3.0, 4
    t = _trainer(
        f"loss.r1_gamma={gamma}",
        f"loss.r1_interval={interval}",
        "loss.pl_weight=0",
        f"batch_gpu={batch_gpu}",
    )
    name, theta = _param(t.D, "b16")
    seen = []

    def r1(reals, real_logits):
        seen.append(reals.shape[0])
        return theta.sum() * torch.ones(reals.shape[0])  # d/dθ of each sample's penalty: 1

    monkeypatch.setattr(losses, "r1_penalty", r1)
    calls = _record(t)
    train_step(t, _reals(t), None)  # step 0: 0 % interval == 0, so R1 runs
    assert sum(seen) == t.batch_local  # every real image of this process is penalised
    assert len(calls["D"]) == 2
    _assert_only(calls["D"][1], name, torch.full_like(theta, gamma / 2 * interval))
    # and between intervals it does not run
    calls["D"].clear()
    train_step(t, _reals(t, 2), None)
    assert len(calls["D"]) == 1


@pytest.mark.parametrize("batch_gpu", ["null", "4"])
def test_path_length_reaches_g_as_2_l_minus_a_times_weight_and_interval(monkeypatch, batch_gpu):
    weight, interval, decay, start = 1.5, 3, 0.2, 0.7
    t = _trainer(
        "batch=8",
        f"batch_gpu={batch_gpu}",
        "loss.r1_gamma=0",
        f"loss.pl_weight={weight}",
        f"loss.pl_interval={interval}",
        f"loss.pl_decay={decay}",
        "loss.pl_batch_shrink=2",
    )
    name, theta = _param(t.G, "synthesis")
    rounds = []

    def path_lengths(fake, ws, generator=None):
        n = fake.shape[0]
        assert n % 2 == 0
        # slopes sum to n/2, not 0: the mean length, and so the mean a, moves with θ too
        slope = torch.tensor([1.5, -0.5]).repeat(n // 2)
        base = 1.0 + 0.5 * torch.arange(n, dtype=torch.float32) + 0.25 * len(rounds)
        lengths = base + slope * theta.sum()
        rounds.append((lengths.detach().clone(), slope))
        return lengths

    monkeypatch.setattr(losses, "path_lengths", path_lengths)
    t.pl_mean = torch.tensor(start)
    calls = _record(t)
    train_step(t, _reals(t), None)
    assert len(rounds) == t.rounds and all(len(r[0]) == t.batch_gpu // 2 for r in rounds)
    # by hand: round v is penalised with (L − a_v)², a_v = a_(v−1) + decay·(mean L − a_(v−1)),
    # so d/dθ = 2(L − a_v)(slope − decay·mean slope); a_0 = start, and a ends at a_R
    want, a = 0.0, start
    for lengths, slope in rounds:
        a = a + decay * (float(lengths.mean()) - a)
        grad = 2 * (lengths - a) * (slope - decay * slope.mean())
        want += float(grad.mean()) * weight * interval / len(rounds)
    assert len(calls["G"]) == 2
    _assert_only(calls["G"][1], name, torch.full_like(theta, want))
    # the shared mean moved once per round, each time by `decay` towards that round's mean
    assert float(t.pl_mean) == pytest.approx(a, rel=1e-6)
    if len(rounds) > 1:  # not the old rule: each round against the same start, one lerp
        mean_length = float(torch.stack([r[0].mean() for r in rounds]).mean())
        assert a != pytest.approx(start + decay * (mean_length - start), rel=1e-3)


def test_pl_mean_after_real_steps_follows_its_decay():
    """The same with the real path lengths (no stand-in): the mean after the step lies
    `decay` of the way from its start to the batch's mean length."""
    decay, start = 0.3, 0.05
    t = _trainer("loss.r1_gamma=0", "loss.pl_interval=1", f"loss.pl_decay={decay}")
    seen = []
    real = losses.path_lengths

    def spy(fake, ws, generator=None):
        out = real(fake, ws, generator)
        seen.append(out.detach().mean())
        return out

    t.pl_mean = torch.tensor(start)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(losses, "path_lengths", spy)
        train_step(t, _reals(t), None)
    assert len(seen) == 1 and float(seen[0]) > 10 * start  # far from start: a 1 − decay lerp shows
    assert float(t.pl_mean) == pytest.approx(start + decay * (float(seen[0]) - start), rel=1e-5)


# -- optimisers, EMA, style mixing ------------------------------------------------------------


def _group(opt: torch.optim.Optimizer) -> tuple[float, tuple[float, float], float]:
    (g,) = opt.param_groups
    return g["lr"], tuple(g["betas"]), g["eps"]


def test_each_optimiser_has_its_own_lr_and_the_lazy_regularisation_correction():
    t = _trainer(
        "optim.g_lr=0.003",
        "optim.d_lr=0.001",
        "optim.beta1=0.5",
        "optim.beta2=0.9",
        "optim.eps=1.0e-7",
        "loss.pl_weight=2",
        "loss.pl_interval=4",
        "loss.r1_gamma=1",
        "loss.r1_interval=8",
    )
    g, d = 4 / 5, 8 / 9  # mb_ratio = k / (k + 1)
    lr, betas, eps = _group(t.opt_G)
    assert lr == pytest.approx(0.003 * g) and eps == 1e-7
    assert betas == pytest.approx((0.5**g, 0.9**g))
    lr, betas, eps = _group(t.opt_D)
    assert lr == pytest.approx(0.001 * d) and eps == 1e-7
    assert betas == pytest.approx((0.5**d, 0.9**d))
    # the optimisers own exactly their network's trainable parameters
    assert {id(p) for p in t.opt_G.param_groups[0]["params"]} == {id(p) for p in t.G.parameters()}
    assert {id(p) for p in t.opt_D.param_groups[0]["params"]} == {id(p) for p in t.D.parameters()}


def test_a_switched_off_regulariser_leaves_its_optimiser_uncorrected():
    t = _trainer(
        "optim.g_lr=0.003",
        "optim.d_lr=0.001",
        "optim.beta1=0.5",
        "loss.pl_weight=0",
        "loss.r1_gamma=0",
    )
    assert _group(t.opt_G)[:2] == (0.003, (0.5, 0.99))
    assert _group(t.opt_D)[:2] == (0.001, (0.5, 0.99))


@pytest.mark.parametrize("rampup", [0.05, None])
def test_g_ema_after_a_step_is_the_lerp_with_the_ramped_up_beta(rampup):
    ema_kimg, nimg = 10.0, 2000
    t = _trainer(f"ema.kimg={ema_kimg}", f"ema.rampup={'null' if rampup is None else rampup}")
    t.nimg = nimg
    before = {n: p.detach().clone() for n, p in t.G_ema.named_parameters()}
    train_step(t, _reals(t), None)
    half_life = ema_kimg * 1000 if rampup is None else min(ema_kimg * 1000, nimg * rampup)
    beta = 0.5 ** (t.cfg.batch / half_life)  # rampup 0.05 at 2 kimg: β ≈ 0.973, not 0.9997
    g = dict(t.G.named_parameters())
    for n, p in t.G_ema.named_parameters():
        # rtol: the one foreach lerp rounds a few ulps apart from Tensor.lerp
        torch.testing.assert_close(p, g[n].detach().lerp(before[n], beta), rtol=2e-6, atol=1e-6)
    for (n, b_ema), b in zip(t.G_ema.named_buffers(), t.G.buffers()):
        assert torch.equal(b_ema, b), n


def _synthesis_ws(t: Trainer) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    t.G.synthesis.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("prob", [1.0, 0.0])
def test_every_generated_batch_mixes_styles_at_the_configured_probability(prob):
    t = _trainer(f"loss.style_mixing_prob={prob}", "loss.r1_gamma=0", "loss.pl_interval=1")
    seen = _synthesis_ws(t)
    train_step(t, _reals(t), None)
    assert len(seen) >= 3  # G main, G reg, D main
    for ws in seen:  # [N, num_ws, w_dim]
        mixed = (ws != ws[:, :1]).any(dim=2).any(dim=1)  # a later w differs from the first
        assert mixed.all() if prob == 1 else not mixed.any()


# -- augmentation and ADA wiring --------------------------------------------------------------


class _Tagging(torch.nn.Module):
    """A stand-in augmentation: the identity, remembering every tensor it hands on."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("p", torch.tensor(0.5))
        self.made: list[torch.Tensor] = []

    def forward(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = img * 1.0
        self.made.append(out)
        return out


def test_every_image_d_sees_has_been_through_the_augmentations():
    """ADA's guarantee against leaking augmentations: D never sees an image, real or fake,
    in any phase (G main, G reg, D main, R1), that the pipe did not hand it."""
    t = _trainer("augment.mode=fixed", "augment.p=0.5", "loss.r1_interval=1", "loss.pl_interval=1")
    t.augment = _Tagging()
    fed: list[torch.Tensor] = []
    t.D.register_forward_pre_hook(lambda mod, args: fed.append(args[0]))
    train_step(t, _reals(t), None)
    assert len(fed) >= 4  # G main (fakes), D main (fakes, reals), R1 (reals)
    for x in fed:
        assert any(x is y for y in t.augment.made), "D saw an image the augmentations never saw"


def test_ada_moves_p_by_the_sign_of_d_real_and_the_images_since_its_last_update():
    """r_t is the mean sign of every D(real) since the last update, the R1 phase's included
    (as the reference counts them); D(fake) never counts. D's outputs are set by hand: each
    pass over reals gets its own signs, every fake gets −1."""
    import math

    interval, adjust_kimg, p0, target = 2, 1.0, 0.5, 0.6
    t = _trainer(
        "augment.mode=ada",
        f"augment.p={p0}",
        f"augment.target={target}",
        f"augment.adjust_kimg={adjust_kimg}",
        f"augment.interval={interval}",
        "loss.r1_gamma=1",
        f"loss.r1_interval={interval}",
        "loss.pl_weight=0",
    )
    batches = [_reals(t, 1), _reals(t, 2)]
    storage = {b.untyped_storage().data_ptr() for b in batches}
    augmented_reals: list[torch.Tensor] = []  # what the pipe made of the reals, kept alive

    def tag(mod, args, out):
        if args[0].untyped_storage().data_ptr() in storage:
            augmented_reals.append(out)

    # the passes over reals, in order: D main of step 0, R1 of step 0, D main of step 1
    signs = [[1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, 1.0]]
    real_calls: list[torch.Tensor] = []

    def set_logits(mod, args, out):
        is_real = any(args[0] is r for r in augmented_reals)
        want = (
            torch.tensor(signs[len(real_calls)]).view_as(out) * (out.detach().abs() + 0.5)
            if is_real
            else torch.full_like(out, -1.0)
        )
        if is_real:
            real_calls.append(want)
        return out + (want - out.detach())  # D's value, set; its gradient kept

    t.augment.register_forward_hook(tag)
    t.D.register_forward_hook(set_logits)
    first = train_step(t, batches[0], None)
    assert "augment/rt" not in first and t.augment_p == pytest.approx(p0)
    second = train_step(t, batches[1], None)
    assert len(real_calls) == 3  # D main twice, R1 once (step 0 only)
    rt = float(torch.cat([r.flatten() for r in real_calls]).sign().mean())
    assert rt == pytest.approx(1 / 6)  # 2 − 4 + 4 of 12; D main alone: 0.75, D(fake): −1
    assert float(second["augment/rt"]) == pytest.approx(rt)
    step = t.cfg.batch * interval / (adjust_kimg * 1000)  # images since the last update
    assert t.augment_p == pytest.approx(p0 + math.copysign(step, rt - target))  # down, here


def test_w_avg_follows_the_unmixed_w_of_every_round_the_mapping_drew():
    """The truncation centre tracks the mapping's own output (ws[:, 0], never mixed), not a
    mixed-in style, and moves as in the reference: once per round of every training-mode
    mapping call (G main, G reg, D main), in that order, w_avg ← lerp(mean w, w_avg, β)."""
    t = _trainer(
        "batch_gpu=2",
        "loss.style_mixing_prob=1",
        "loss.r1_gamma=0",
        "loss.pl_interval=1",
        "loss.pl_batch_shrink=1",
    )
    seen = _synthesis_ws(t)
    w = t.G.mapping.w_avg.detach().clone()
    beta = t.G.mapping.w_avg_beta
    train_step(t, _reals(t), None)
    assert t.rounds == 2 and len(seen) == 3 * t.rounds  # G main, G reg, D main; 2 rounds each
    for ws in seen:  # [n, num_ws, w_dim], every sample mixed
        assert (ws[:, -1] != ws[:, 0]).any(dim=1).all()
        w = w + (1 - beta) * (ws[:, 0].mean(dim=0) - w)
    torch.testing.assert_close(t.G.mapping.w_avg, w, rtol=1e-5, atol=1e-6)


def test_g_ema_keeps_the_frozen_layers_of_the_base():
    t = _trainer("freeze.mapping=true", "ema.rampup=0.05")
    t.nimg = 2000
    before = {n: p.detach().clone() for n, p in t.G_ema.named_parameters()}
    train_step(t, _reals(t), None)
    frozen = [n for n in before if n.startswith("mapping.")]
    assert frozen and set(frozen) <= t.frozen_g
    for n, p in t.G_ema.named_parameters():
        assert torch.equal(p, before[n]) == (n in t.frozen_g), n  # the rest moves


def test_the_optimisers_hold_only_what_trains():
    """Frozen layers are not handed to Adam at all: nothing can step them, and no moments
    for them land in a snapshot."""
    t = _trainer("freeze.mapping=true", "freeze.d_layers=1")
    for opt, net in ((t.opt_G, t.G), (t.opt_D, t.D)):
        held = {id(p) for g in opt.param_groups for p in g["params"]}
        assert held == {id(p) for p in net.parameters() if p.requires_grad}
        assert held != {id(p) for p in net.parameters()}  # something is frozen in each
