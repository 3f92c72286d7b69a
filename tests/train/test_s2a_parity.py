"""zizi's training step against a reference written from S2A's published equations
(tests/train/s2a_reference.py): every phase's gradients and the weights after several
iterations agree within float noise on a tiny CPU net with replayed random draws."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.tiny import TINY_SETTINGS
from tests.train.s2a_reference import S2AReference
from zizi.io.checkpoint import load_checkpoint
from zizi.train import step as step_mod
from zizi.train.config import resolve_config
from zizi.train.trainer import Trainer

ITERS = 5  # regularisers at iterations 0, 2, 4 (interval 2)


def _record_phases(monkeypatch) -> list[tuple[str, list[torch.Tensor | None]]]:
    """The gradients each of zizi's phases hands its optimiser, in order."""
    seen: list[tuple[str, list[torch.Tensor | None]]] = []
    finish = step_mod._finish

    def wrapped(t, which):
        params = t.g_params if which == "G" else t.d_params
        seen.append((which, [None if p.grad is None else p.grad.detach().clone() for p in params]))
        finish(t, which)

    monkeypatch.setattr(step_mod, "_finish", wrapped)
    return seen


def _reals(i: int, n: int, res: int = 16) -> torch.Tensor:
    return torch.rand([n, 3, res, res], generator=torch.Generator().manual_seed(100 + i)) * 2 - 1


def _close(a: torch.Tensor, b: torch.Tensor, what: str, rel: float = 1e-4) -> None:
    scale = max(float(b.abs().max()), 1e-6)
    err = float((a - b).abs().max())
    assert err <= rel * scale + 1e-7, f"{what}: max |zizi − S2A| {err:.3g} (scale {scale:.3g})"


def _run(monkeypatch, tiny_ckpt, *sets: str, sum_rounds: bool = True):
    cfg = resolve_config(assignments=[*TINY_SETTINGS, *sets])
    t = Trainer(load_checkpoint(tiny_ckpt), cfg, torch.device("cpu"))
    ref = S2AReference(t, sum_rounds)
    seen = _record_phases(monkeypatch)
    for i in range(ITERS):
        seen.clear()
        reals = _reals(i, cfg.batch)
        step_mod.train_step(t, reals, None)
        ref.step(reals)
        if ref.last_rt is not None:  # ADA's overfitting heuristic r_t at every adjustment
            assert t.ada.last_rt == pytest.approx(ref.last_rt, abs=1e-12), f"iteration {i}: r_t"
        names = list(ref.grads)
        assert [w for w, _ in seen] == [n[0] for n in names], f"iteration {i}: phases differ"
        for (_, got), name in zip(seen, names):
            rounds = t.rounds if sum_rounds else 1  # zizi averages the rounds, S2A sums them
            for j, (g, want) in enumerate(zip(got, ref.grads[name])):
                assert g is not None, f"iteration {i} {name}: parameter {j} got no gradient"
                _close(g * rounds, want, f"iteration {i} {name} gradient of parameter {j}")
    return t, ref


def _weights_match(t, ref) -> None:
    for net, ref_net, name in ((t.G, ref.G, "G"), (t.D, ref.D, "D"), (t.G_ema, ref.G_ema, "G_ema")):
        for (k, a), b in zip(net.state_dict().items(), ref_net.state_dict().values()):
            _close(a, b, f"{name}.{k} after {ITERS} iterations")
    assert float(t.pl_mean) == pytest.approx(float(ref.pl_mean), rel=1e-5)
    _close(t.G.mapping.w_avg, ref.G.mapping.w_avg, "w_avg")
    if t.augment is not None:
        assert float(t.augment.p) == pytest.approx(float(ref.augment.p), abs=1e-9)


@pytest.mark.parametrize(
    "sets",
    [
        (),  # one round per minibatch, no augmentation
        ("augment.mode=ada", "augment.p=0.3", "augment.interval=2", "augment.adjust_kimg=0.05"),
    ],
    ids=["plain", "ada"],
)
def test_every_phase_and_the_weights_match_the_s2a_reference(monkeypatch, tiny_ckpt, sets):
    _weights_match(*_run(monkeypatch, tiny_ckpt, *sets))


def test_accumulated_rounds_match_s2a_but_for_their_mean(monkeypatch, tiny_ckpt):
    """Two rounds of 2: the path-length mean advances per round as in S2A; zizi averages
    the rounds' gradients (S2A sums them, checked per phase above as zizi × rounds)."""
    _run(monkeypatch, tiny_ckpt, "batch_gpu=2")  # gradients: zizi · 2 == S2A per phase
    _weights_match(*_run(monkeypatch, tiny_ckpt, "batch_gpu=2", sum_rounds=False))
