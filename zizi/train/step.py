"""One training minibatch as four phases: G main, G regularisation, D main, D regularisation.

Each phase zeroes its optimiser, computes a loss, back-propagates only into its own
network's trainable parameters, averages gradients over processes (DDP), makes them
finite and steps. Regularisation phases run every `interval` minibatches with their loss
multiplied by the interval (lazy regularisation, StyleGAN2 App. B).

A process's share of the minibatch is worked through in rounds of `batch_gpu` images
(gradient accumulation). Round v of the global batch always draws from its own random
generator, whichever process runs it, so N processes compute exactly what one process
computes with the same global batch: same latents, noise, augmentations, minibatch-
stddev groups, and averaged gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from zizi.errors import ZiziError
from zizi.train import losses
from zizi.train.distributed import all_gather, sync_grads
from zizi.train.ema import ema_beta, update_ema
from zizi.train.optim import finite_grads

if TYPE_CHECKING:
    from zizi.train.trainer import Trainer


def _begin(t: Trainer, which: str) -> None:
    """Only `which` network's trainable parameters take gradients in this phase."""
    for p in t.g_params:
        p.requires_grad_(which == "G")
    for p in t.d_params:
        p.requires_grad_(which == "D")
    (t.opt_G if which == "G" else t.opt_D).zero_grad(set_to_none=True)


def _finish(t: Trainer, which: str) -> None:
    params = t.g_params if which == "G" else t.d_params
    sync_grads(params, t.world)
    finite_grads(params)
    (t.opt_G if which == "G" else t.opt_D).step()


def _run_D(
    t: Trainer, img: torch.Tensor, c: torch.Tensor | None, gen: torch.Generator
) -> torch.Tensor:
    """D on what it sees: every image, real or fake, goes through the augmentations."""
    if t.augment is not None:
        img = t.augment(img, generator=gen)
    return t.D(img, c)


def _fake_labels(
    t: Trainer, gen: torch.Generator, n: int, conditional: bool
) -> torch.Tensor | None:
    """Labels for n fakes, drawn at random from the dataset's labels (its label
    distribution, as the reference does), independently of the real batch."""
    if not conditional:
        return None
    if t.label_pool is None:
        raise ZiziError(
            "conditional training needs the dataset's labels: call "
            "Trainer.set_label_pool(dataset) before training"
        )
    idx = torch.randint(len(t.label_pool), [n], device=t.label_pool.device, generator=gen)
    return t.label_pool[idx]


def _fakes(
    t: Trainer, gen: torch.Generator, n: int, c: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [n, C, H, W], the ws [n, num_ws, w_dim] that made them) from fresh latents."""
    z = torch.randn([n, t.G.z_dim], device=t.device, generator=gen)
    ws = losses.mix_styles(t.G, z, c, t.cfg.loss.style_mixing_prob, gen)
    return t.G.synthesis(ws, noise_mode="random", generator=gen), ws


def _rounds(t: Trainer, c: torch.Tensor | None, reals: torch.Tensor | None = None):
    """(generator, labels, reals) of each round of this process's share."""
    for i, gen in enumerate(t.gens):
        sl = slice(i * t.batch_gpu, (i + 1) * t.batch_gpu)
        yield gen, (c[sl] if c is not None else None), (reals[sl] if reals is not None else None)


def _in_round_order(local: torch.Tensor, world: int) -> torch.Tensor:
    """This process's per-round values [R, ...] gathered into global round order [N·R, ...].

    Round i of process k is round i·N + k of the global batch (zizi.train.trainer)."""
    every = all_gather(local, world)  # [N, R, ...]
    return every.transpose(0, 1).reshape(-1, *local.shape[1:])


def _track_w_avg(t: Trainer, round_means: torch.Tensor) -> None:
    """w_avg ← mean w + β·(w_avg − mean w) once per round [R, w_dim], in round order.

    The reference updates w_avg in every training-mode call of the mapping network (G main,
    G reg and D main alike, each round); w_avg feeds nothing in training, so the updates are
    made after the phase, from the rounds' mean ws, in the order one process makes them.
    """
    m = t.G.mapping
    if getattr(m, "w_avg_beta", None) is None or not hasattr(m, "w_avg"):
        return
    with torch.no_grad():
        for mean_w in _in_round_order(round_means, t.world):
            m.w_avg.copy_(mean_w.lerp(m.w_avg, m.w_avg_beta))


def _mean_w(ws: torch.Tensor) -> torch.Tensor:
    """The mapping network's mean output of a round: the first w is never mixed."""
    return ws[:, 0].detach().mean(dim=0)  # [w_dim]


def g_main(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    _begin(t, "G")
    total = torch.zeros([], device=t.device)
    w_means = []
    for gen, _, _ in _rounds(t, c):
        fc = _fake_labels(t, gen, t.batch_gpu, c is not None)
        fake, ws = _fakes(t, gen, t.batch_gpu, fc)
        w_means.append(_mean_w(ws))
        loss = losses.g_loss(_run_D(t, fake, fc, gen)).mean()
        (loss / len(t.gens)).backward()
        total += loss.detach()
    _finish(t, "G")
    _track_w_avg(t, torch.stack(w_means))
    return {"loss/G": total / len(t.gens)}


def g_reg(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Path-length regularisation, with the running mean `a` advanced once per round of the
    global batch, in order, as one process of the reference does: round v is penalised
    against a_v = lerp(a_(v−1), mean length of round v, decay), which carries the gradient
    of that mean. Under DDP a process learns the mean lengths of the rounds before its own
    from the other processes (one scalar each), so N processes compute what one does."""
    lc = t.cfg.loss
    _begin(t, "G")
    n = max(t.batch_gpu // lc.pl_batch_shrink, 1)
    pens, w_means = [], []
    for gen, _, _ in _rounds(t, c):
        fake, ws = _fakes(t, gen, n, _fake_labels(t, gen, n, c is not None))
        w_means.append(_mean_w(ws))
        if not ws.requires_grad:  # a frozen mapping network: differentiate w.r.t. ws directly
            ws = ws.detach().requires_grad_(True)
            fake = t.G.synthesis(ws, noise_mode="random", generator=gen)
        lengths = losses.path_lengths(fake, ws, gen)
        peers = all_gather(lengths.detach().mean(), t.world)  # [N] this round of each process
        before = t.pl_mean
        for k in range(t.dist.rank):  # the rounds of lower ranks come first
            before = before.lerp(peers[k], lc.pl_decay)
        penalty, _ = losses.pl_penalty(lengths, before, lc.pl_decay)
        # `0 · image` gives every synthesis parameter a gradient, zero where the penalty does
        # not reach (the ToRGB biases), so Adam steps them as it does in the reference.
        loss = (fake[:, 0, 0, 0] * 0 + penalty * lc.pl_weight).mean() * lc.pl_interval
        (loss / len(t.gens)).backward()
        for m in peers:
            t.pl_mean = t.pl_mean.lerp(m, lc.pl_decay)
        pens.append(penalty.detach().mean())
    _finish(t, "G")
    _track_w_avg(t, torch.stack(w_means))
    return {"loss/pl_penalty": torch.stack(pens).mean(), "loss/pl_mean": t.pl_mean.clone()}


def d_main(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    _begin(t, "D")
    sums = {k: torch.zeros([], device=t.device) for k in ("D", "D_real", "D_fake", "real", "fake")}
    w_means = []
    for gen, cr, rr in _rounds(t, c, reals):
        fc = _fake_labels(t, gen, t.batch_gpu, c is not None)
        with torch.no_grad():
            fake, ws = _fakes(t, gen, t.batch_gpu, fc)
        w_means.append(_mean_w(ws))
        fake_logits = _run_D(t, fake, fc, gen)
        real_logits = _run_D(t, rr, cr, gen)
        loss_fake, loss_real = losses.d_loss(real_logits, fake_logits)
        loss = loss_fake.mean() + loss_real.mean()
        (loss / len(t.gens)).backward()
        if t.ada is not None:
            t.ada.accumulate(real_logits.detach())
        for k, v in (
            ("D", loss),
            ("D_real", loss_real.mean()),
            ("D_fake", loss_fake.mean()),
            ("real", real_logits.mean()),
            ("fake", fake_logits.mean()),
        ):
            sums[k] += v.detach()
    _finish(t, "D")
    _track_w_avg(t, torch.stack(w_means))
    r = len(t.gens)
    return {
        "loss/D": sums["D"] / r,
        "loss/D_real": sums["D_real"] / r,
        "loss/D_fake": sums["D_fake"] / r,
        "scores/real": sums["real"] / r,
        "scores/fake": sums["fake"] / r,
    }


def d_reg(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    lc = t.cfg.loss
    _begin(t, "D")
    total = torch.zeros([], device=t.device)
    for gen, cr, rr in _rounds(t, c, reals):
        rr = rr.detach().requires_grad_(True)
        real_logits = _run_D(t, rr, cr, gen)
        penalty = losses.r1_penalty(rr, real_logits)
        # `0 · D(real)` gives every parameter a gradient, zero where R1 does not reach (the
        # last bias), so Adam steps them as it does in the reference.
        loss = (real_logits.flatten() * 0 + penalty * (lc.r1_gamma / 2)).mean() * lc.r1_interval
        (loss / len(t.gens)).backward()
        if t.ada is not None:  # the reference's r_t counts D(real) of this phase too
            t.ada.accumulate(real_logits.detach())
        total += penalty.detach().mean()
    _finish(t, "D")
    return {"loss/r1_penalty": total / len(t.gens)}


def train_step(
    t: Trainer, reals: torch.Tensor, labels: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """One global minibatch (this process's share: `reals`, on any device); returns
    detached statistics."""
    reals = reals.to(t.device, non_blocking=True)
    labels = labels.to(t.device) if labels is not None else None
    lc = t.cfg.loss
    c = labels if labels is not None and labels.ndim == 2 and labels.shape[1] > 0 else None
    stats = g_main(t, c)
    if lc.pl_weight > 0 and t.step % lc.pl_interval == 0:
        stats.update(g_reg(t, c))
    stats.update(d_main(t, reals, c))
    if lc.r1_gamma > 0 and t.step % lc.r1_interval == 0:
        stats.update(d_reg(t, reals, c))
    for p in t.g_params + t.d_params:
        p.requires_grad_(True)
    beta = ema_beta(t.cfg.batch, t.cfg.ema.kimg, t.cfg.ema.rampup, t.nimg)
    update_ema(t.G_ema, t.G, beta, t.frozen_g)
    t.nimg += t.cfg.batch
    t.data_pos += t.cfg.batch
    t.step += 1
    if t.ada is not None and t.ada.due(t.step):
        rt = t.ada.update(t.cfg.batch * t.ada.interval)  # images since the last update
        if rt is not None:
            stats["augment/rt"] = torch.tensor(rt)
    return stats
