"""One training iteration as NVIDIA's stylegan2-ada-pytorch (S2A) defines it, written for the
parity test from the published equations (Karras et al. 2020, StyleGAN2 §3.2 and App. B,
ADA §3 and App. C) and S2A's documented training loop, not from zizi's trainer.

What S2A fixes and this reference follows:
- phases G main, G reg (every G interval), D main, D reg (every D interval), in that order,
  each with its own fresh latents, its gradient multiplied by the phase's interval (lazy
  regularisation) and summed over the rounds of the minibatch;
- in the regularisation phases every parameter of the phase's network gets a gradient
  (S2A adds 0 × output to the loss), zero where the penalty does not reach;
- the path-length mean a ← lerp(a, mean length, decay) once per round, the penalty measured
  against the new a *with* the gradient of the round's mean length;
- w_avg ← lerp(mean w, w_avg, β) in every training call of the mapping network (never for
  the mixing latent);
- Adam with lr·k/(k+1) and β^(k/(k+1)) for a regularisation interval k; NaN/Inf gradients
  replaced by 0/±1e5 before the step;
- G_ema: β = 0.5^(batch / max(half-life images, 1e-8)), the half-life capped at
  rampup × images seen; buffers copied;
- ADA: r_t = mean sign of every D(real) of D main and D reg since the last adjustment;
  p += sign(r_t − target) · batch · interval / (ada_kimg · 1000), never below 0.

Random draws are replayed from generators cloned from the trainer's, in the order the
trainer makes them (latent, the mixing cutoff and coin per sample, the mixing latent,
synthesis noise, augmentations, path-length noise), so both see identical numbers.
Two differences zizi keeps on purpose (docs/training.md) are switches here: zizi draws the
mixing cutoff per sample where S2A draws one per round (the reference replays zizi's
per-sample cutoffs), and zizi averages the rounds of an accumulated minibatch where S2A sums
them (`sum_rounds`; the same up to Adam's eps).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F


class Adam:
    """Adam written from Kingma & Ba (2015), Algorithm 1 (bias-corrected moments)."""

    def __init__(
        self, params: list[torch.Tensor], lr: float, betas: tuple[float, float], eps: float
    ) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = [0 for _ in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        b1, b2 = self.betas
        for i, (p, g) in enumerate(zip(self.params, grads)):
            self.t[i] += 1
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1 ** self.t[i])
            v_hat = self.v[i] / (1 - b2 ** self.t[i])
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


class S2AReference:
    """A copy of a zizi Trainer's networks and random streams, trained the S2A way."""

    def __init__(self, trainer, sum_rounds: bool = True) -> None:
        cfg = trainer.cfg
        self.sum_rounds = sum_rounds
        self.cfg, self.lc = cfg, cfg.loss
        self.G = copy.deepcopy(trainer.G)
        self.D = copy.deepcopy(trainer.D)
        self.G_ema = copy.deepcopy(trainer.G_ema)
        self.augment = copy.deepcopy(trainer.augment)
        self.gens = []
        for g in trainer.gens:
            clone = torch.Generator()
            clone.set_state(g.get_state())
            self.gens.append(clone)
        self.batch_gpu = trainer.batch_gpu
        self.pl_mean = torch.zeros([])
        self.batch_idx = 0
        self.nimg = 0
        self.signs: list[torch.Tensor] = []  # D(real) signs since ADA's last adjustment
        self.last_rt: float | None = None
        o = cfg.optim

        def adam(net, lr, interval):
            k = interval / (interval + 1)
            return Adam(list(net.parameters()), lr * k, (o.beta1**k, o.beta2**k), o.eps)

        self.opt_G = adam(self.G, o.g_lr, self.lc.pl_interval)
        self.opt_D = adam(self.D, o.d_lr, self.lc.r1_interval)
        self.grads: dict[str, list[torch.Tensor]] = {}  # the last iteration's, per phase

    # -- pieces ----------------------------------------------------------------------------

    def _mapping(self, z: torch.Tensor) -> torch.Tensor:
        """A training-mode mapping call: w_avg moves towards the batch's mean w."""
        ws = self.G.mapping(z, None)
        m = self.G.mapping
        with torch.no_grad():
            m.w_avg.copy_(ws[:, 0].detach().mean(0).lerp(m.w_avg, m.w_avg_beta))
        return ws

    def _generate(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn([n, self.G.z_dim], generator=gen)
        ws = self._mapping(z)
        num_ws = ws.shape[1]
        cutoff = torch.randint(1, num_ws, [n], generator=gen)
        mixed = torch.rand([n], generator=gen) < self.lc.style_mixing_prob
        z2 = torch.randn(z.shape, generator=gen)
        ws2 = self.G.mapping(z2, None)  # the mixing latent leaves w_avg alone
        rows = []
        for i in range(n):
            k = int(cutoff[i]) if mixed[i] else num_ws
            rows.append(torch.cat([ws[i, :k], ws2[i, k:]]))
        ws = torch.stack(rows)
        img = self.G.synthesis(ws, noise_mode="random", generator=gen)
        return img, ws

    def _D(self, img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.augment is not None:
            img = self.augment(img, generator=gen)
        return self.D(img, None)

    @staticmethod
    def _grads(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
        got = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=False)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, got)]

    # -- one iteration ---------------------------------------------------------------------

    def step(self, reals: torch.Tensor) -> None:
        lc, b = self.lc, self.batch_idx
        G_params, D_params = list(self.G.parameters()), list(self.D.parameters())
        rounds = list(zip(self.gens, reals.split(self.batch_gpu)))
        self.grads = {}
        phases = [
            ("G_main", 1),
            ("G_reg", lc.pl_interval),
            ("D_main", 1),
            ("D_reg", lc.r1_interval),
        ]
        for name, gain in phases:
            if b % gain:
                continue
            if name == "G_reg" and lc.pl_weight == 0 or name == "D_reg" and lc.r1_gamma == 0:
                continue
            params = G_params if name.startswith("G") else D_params
            total = [torch.zeros_like(p) for p in params]
            for gen, real in rounds:
                loss = getattr(self, "_" + name.lower())(gen, real)
                scale = gain if self.sum_rounds else gain / len(rounds)
                for acc, g in zip(total, self._grads(loss * scale, params)):
                    acc += g
            total = [torch.nan_to_num(g, nan=0, posinf=1e5, neginf=-1e5) for g in total]
            self.grads[name] = total
            (self.opt_G if name.startswith("G") else self.opt_D).step(total)
        self._ema()
        self.nimg += self.cfg.batch
        self.batch_idx += 1
        ac = self.cfg.augment
        if self.augment is not None and ac.mode == "ada" and self.batch_idx % ac.interval == 0:
            rt = self.last_rt = float(torch.cat(self.signs).double().mean())
            self.signs = []
            adjust = (
                math.copysign(1, rt - ac.target)
                * self.cfg.batch
                * ac.interval
                / (ac.adjust_kimg * 1000)
                if rt != ac.target
                else 0.0
            )
            self.augment.p.copy_(torch.clamp(self.augment.p + adjust, min=0))

    def _g_main(self, gen, real) -> torch.Tensor:
        img, _ = self._generate(self.batch_gpu, gen)
        return F.softplus(-self._D(img, gen)).mean()

    def _g_reg(self, gen, real) -> torch.Tensor:
        lc = self.lc
        img, ws = self._generate(self.batch_gpu // lc.pl_batch_shrink, gen)
        h, w = img.shape[2], img.shape[3]
        noise = torch.randn(img.shape, generator=gen) / math.sqrt(h * w)
        (jy,) = torch.autograd.grad((img * noise).sum(), [ws], create_graph=True)
        lengths = jy.square().sum(2).mean(1).sqrt()
        a = self.pl_mean.lerp(lengths.mean(), lc.pl_decay)
        self.pl_mean = a.detach()
        return (img[:, 0, 0, 0] * 0 + (lengths - a).square() * lc.pl_weight).mean()

    def _d_main(self, gen, real) -> torch.Tensor:
        with torch.no_grad():
            img, _ = self._generate(self.batch_gpu, gen)
        fake_logits = self._D(img, gen)
        real_logits = self._D(real, gen)
        self.signs.append(real_logits.detach().sign().flatten())
        return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()

    def _d_reg(self, gen, real) -> torch.Tensor:
        x = real.detach().requires_grad_(True)
        logits = self._D(x, gen)
        self.signs.append(logits.detach().sign().flatten())
        (g,) = torch.autograd.grad(logits.sum(), [x], create_graph=True)
        r1 = g.square().sum([1, 2, 3])
        return (logits.flatten() * 0 + r1 * (self.lc.r1_gamma / 2)).mean()

    @torch.no_grad()
    def _ema(self) -> None:
        ec = self.cfg.ema
        half_life = ec.kimg * 1000
        if ec.rampup is not None:
            half_life = min(half_life, self.nimg * ec.rampup)
        beta = 0.5 ** (self.cfg.batch / max(half_life, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)
