"""One training minibatch as four phases: G main, G regularisation, D main, D regularisation.

Each phase zeroes its optimiser, computes a loss, back-propagates only into its own
network's trainable parameters, averages gradients over processes (DDP), makes them
finite and steps. Regularisation phases run every `interval` minibatches with their loss
multiplied by the interval (lazy regularisation, StyleGAN2 App. B).
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


def _run_D(t: Trainer, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """D on what it sees: every image, real or fake, goes through the augmentations."""
    if t.augment is not None:
        img = t.augment(img)
    return t.D(img, c)


def _fakes(t: Trainer, n: int, c: torch.Tensor | None, update_emas: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [n, C, H, W], the ws [n, num_ws, w_dim] that made them) from fresh latents."""
    z = torch.randn([n, t.G.z_dim], device=t.device, generator=t.gen)
    ws = losses.mix_styles(t.G, z, c, t.cfg.loss.style_mixing_prob, t.gen, update_emas=update_emas)
    return t.G.synthesis(ws, noise_mode="random", generator=t.gen), ws


def g_main(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    _begin(t, "G")
    fake, _ = _fakes(t, t.batch_local, c)
    logits = _run_D(t, fake, c)
    loss = losses.g_loss(logits).mean()
    loss.backward()
    _finish(t, "G")
    return {"loss/G": loss.detach(), "scores/fake_G": logits.detach().mean()}


def g_reg(t: Trainer, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    lc = t.cfg.loss
    _begin(t, "G")
    n = max(t.batch_local // lc.pl_batch_shrink, 1)
    fake, ws = _fakes(t, n, c[:n] if c is not None else None)
    if not ws.requires_grad:  # a frozen mapping network: differentiate w.r.t. ws directly
        ws = ws.detach().requires_grad_(True)
        fake = t.G.synthesis(ws, noise_mode="random", generator=t.gen)
    lengths = losses.path_lengths(fake, ws, t.gen)
    mean_len = all_mean(lengths.mean().detach(), t.world)
    penalty, t.pl_mean = losses.pl_penalty(lengths, t.pl_mean, lc.pl_decay, mean_len)
    loss = (penalty * lc.pl_weight).mean() * lc.pl_interval
    loss.backward()
    _finish(t, "G")
    return {"loss/pl_penalty": penalty.detach().mean(), "loss/pl_mean": t.pl_mean.detach().clone()}


def d_main(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        fake, _ = _fakes(t, t.batch_local, c, update_emas=True)
    _begin(t, "D")
    fake_logits = _run_D(t, fake, c)
    real_logits = _run_D(t, reals, c)
    loss_fake, loss_real = losses.d_loss(real_logits, fake_logits)
    loss = loss_fake.mean() + loss_real.mean()
    loss.backward()
    _finish(t, "D")
    if t.ada is not None:
        t.ada.accumulate(real_logits.detach())
    return {"loss/D": loss.detach(), "loss/D_real": loss_real.detach().mean(),
            "loss/D_fake": loss_fake.detach().mean(),
            "scores/real": real_logits.detach().mean(), "scores/fake": fake_logits.detach().mean()}


def d_reg(t: Trainer, reals: torch.Tensor, c: torch.Tensor | None) -> dict[str, torch.Tensor]:
    lc = t.cfg.loss
    _begin(t, "D")
    reals = reals.detach().requires_grad_(True)
    logits = _run_D(t, reals, c)
    penalty = losses.r1_penalty(reals, logits)
    loss = (penalty * (lc.r1_gamma / 2)).mean() * lc.r1_interval
    loss.backward()
    _finish(t, "D")
    return {"loss/r1_penalty": penalty.detach().mean()}


def train_step(t: Trainer, reals: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One global minibatch (this process's share: `reals`); returns detached statistics."""
    lc = t.cfg.loss
    c = labels if labels is not None and labels.shape[1] > 0 else None
    stats = g_main(t, c)
    if lc.pl_weight > 0 and t.step % lc.pl_interval == 0:
        stats.update(g_reg(t, c))
    stats.update(d_main(t, reals, c))
    if lc.r1_gamma > 0 and t.step % lc.r1_interval == 0:
        stats.update(d_reg(t, reals, c))
    for p in t.g_params + t.d_params:
        p.requires_grad_(True)
    beta = ema_beta(t.cfg.batch, t.cfg.ema.kimg, t.cfg.ema.rampup, t.nimg)
    update_ema(t.G_ema, t.G, beta)
    t.nimg += t.cfg.batch
    t.data_pos += t.cfg.batch
    t.step += 1
    if t.ada is not None:
        t.ada.update(t.cfg.batch)
    return stats
