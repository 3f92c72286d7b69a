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

from zizi.train import losses
from zizi.train.distributed import all_mean, sync_grads
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


def _run_D(t: Trainer, img: torch.Tensor, c: torch.Tensor | None, gen: torch.Generator
           ) -> torch.Tensor:
    """D on what it sees: every image, real or fake, goes through the augmentations."""
    if t.augment is not None:
        img = t.augment(img, generator=gen)
    return t.D(img, c)


def _fakes(t: Trainer, gen: torch.Generator, n: int, c: torch.Tensor | None
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


def g_main(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    _begin(t, "G")
    total = torch.zeros([], device=t.device)
    for gen, cr, _ in _rounds(t, c):
        fake, _ = _fakes(t, gen, t.batch_gpu, cr)
        loss = losses.g_loss(_run_D(t, fake, cr, gen)).mean()
        (loss / len(t.gens)).backward()
        total += loss.detach()
    _finish(t, "G")
    return {"loss/G": total / len(t.gens)}


def g_reg(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Path-length regularisation. Every round is penalised against the running mean
    updated with its own lengths (as the reference does per process); the shared mean
    then moves by the mean over all rounds of all processes, so processes stay identical."""
    lc = t.cfg.loss
    _begin(t, "G")
    n = max(t.batch_gpu // lc.pl_batch_shrink, 1)
    means, pens = [], []
    for gen, cr, _ in _rounds(t, c):
        fake, ws = _fakes(t, gen, n, cr[:n] if cr is not None else None)
        if not ws.requires_grad:  # a frozen mapping network: differentiate w.r.t. ws directly
            ws = ws.detach().requires_grad_(True)
            fake = t.G.synthesis(ws, noise_mode="random", generator=gen)
        lengths = losses.path_lengths(fake, ws, gen)
        penalty, _ = losses.pl_penalty(lengths, t.pl_mean, lc.pl_decay)
        loss = (penalty * lc.pl_weight).mean() * lc.pl_interval
        (loss / len(t.gens)).backward()
        means.append(lengths.detach().mean())
        pens.append(penalty.detach().mean())
    _finish(t, "G")
    t.pl_mean = t.pl_mean.lerp(all_mean(torch.stack(means).mean(), t.world), lc.pl_decay)
    return {"loss/pl_penalty": torch.stack(pens).mean(), "loss/pl_mean": t.pl_mean.clone()}


def d_main(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    _begin(t, "D")
    sums = {k: torch.zeros([], device=t.device) for k in ("D", "D_real", "D_fake", "real", "fake")}
    w_means = []
    for gen, cr, rr in _rounds(t, c, reals):
        with torch.no_grad():
            fake, ws = _fakes(t, gen, t.batch_gpu, cr)
        w_means.append(ws[:, 0].mean(dim=0))  # the first w is never mixed: the mapping's output
        fake_logits = _run_D(t, fake, cr, gen)
        real_logits = _run_D(t, rr, cr, gen)
        loss_fake, loss_real = losses.d_loss(real_logits, fake_logits)
        loss = loss_fake.mean() + loss_real.mean()
        (loss / len(t.gens)).backward()
        if t.ada is not None:
            t.ada.accumulate(real_logits.detach())
        for k, v in (("D", loss), ("D_real", loss_real.mean()), ("D_fake", loss_fake.mean()),
                     ("real", real_logits.mean()), ("fake", fake_logits.mean())):
            sums[k] += v.detach()
    _finish(t, "D")
    _track_w_avg(t, all_mean(torch.stack(w_means).mean(dim=0), t.world))
    r = len(t.gens)
    return {"loss/D": sums["D"] / r, "loss/D_real": sums["D_real"] / r,
            "loss/D_fake": sums["D_fake"] / r, "scores/real": sums["real"] / r,
            "scores/fake": sums["fake"] / r}


def _track_w_avg(t: Trainer, batch_mean_w: torch.Tensor) -> None:
    """w_avg ← mean w + β·(w_avg − mean w): the truncation centre follows the mapping net."""
    m = t.G.mapping
    if getattr(m, "w_avg_beta", None) is not None and hasattr(m, "w_avg"):
        with torch.no_grad():
            m.w_avg.copy_(batch_mean_w.lerp(m.w_avg, m.w_avg_beta))


def d_reg(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    lc = t.cfg.loss
    _begin(t, "D")
    total = torch.zeros([], device=t.device)
    for gen, cr, rr in _rounds(t, c, reals):
        rr = rr.detach().requires_grad_(True)
        penalty = losses.r1_penalty(rr, _run_D(t, rr, cr, gen))
        loss = (penalty * (lc.r1_gamma / 2)).mean() * lc.r1_interval
        (loss / len(t.gens)).backward()
        total += penalty.detach().mean()
    _finish(t, "D")
    return {"loss/r1_penalty": total / len(t.gens)}


def train_step(t: Trainer, reals: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One global minibatch (this process's share: `reals`); returns detached statistics."""
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
