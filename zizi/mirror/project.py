"""Projection: find the w (or w+) and noise maps with which a generator draws a target image.

The optimisation follows the StyleGAN2 paper's appendix D (Karras et al. 2020): start at
the average w, Adam with a learning rate that ramps up over the first 5% of the steps and
down (cosine) over the last 25%, Gaussian noise added to w whose strength falls
quadratically to zero at 75% of the steps (so the search looks around before it settles),
and the per-layer noise maps optimised too, held back by a regulariser that penalises
their spatial autocorrelation at every scale and renormalised after each step (so the
noise cannot smuggle the picture in).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Generator as Generator_
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from zizi.errors import ZiziError
from zizi.latents import noise_layers, set_noise

if TYPE_CHECKING:
    from zizi.nets.generator import Generator

Space = Literal["w", "w+"]


@dataclass(frozen=True)
class ProjectConfig:
    steps: int = 500  # the paper's 1000 buys little after ~500 on faces
    space: Space = (
        "w"  # "w": one w for every layer (stays on the model's manifold); "w+": one per layer
    )
    initial_lr: float = 0.1  # the paper's peak learning rate
    lr_rampup: float = 0.05  # fraction of steps to ramp the learning rate up (avoids an early jump)
    lr_rampdown: float = 0.25  # fraction of steps of cosine ramp-down (settles into the minimum)
    noise_strength: float = 0.05  # initial w noise, in units of the spread of w (appendix D)
    noise_ramp: float = 0.75  # fraction of steps after which the w noise is gone
    noise_reg: float = 1e5  # weight of the noise regulariser (appendix D)
    w_avg_samples: int = 10000  # z samples for the mean and spread of w
    seed: int = (
        0  # seeds the w_avg samples and the w noise: the same photo gives the same reflection
    )
    optimize_noise: bool = True  # also fit the per-layer noise maps (fine detail)
    # peak rate from an encoder's guess; of 0.01, 0.03, 0.1 (benchmarks/RESULTS.md "Encoder")
    # 0.1 was best on photos the model cannot draw and within 1 dB of the best on its own images
    refine_lr: float = 0.1


@dataclass
class Projection:
    ws: torch.Tensor  # [1, num_ws, w_dim]: the latent, broadcast for space "w"
    noise: dict[str, torch.Tensor]  # noise map per synthesis layer (name of its noise_const buffer)
    losses: list[float] = field(default_factory=list)  # distance per step


def noise_regularizer(maps: list[torch.Tensor]) -> torch.Tensor:
    """Sum over maps and scales of the squared autocorrelation at a one-pixel shift (x and y),
    halving each map with 2x2 averages down to 8x8 (StyleGAN2 appendix D)."""
    reg = maps[0].new_zeros(())
    for n in maps:
        n = n[None, None]  # [1, 1, H, W]
        while True:
            reg = reg + (n * torch.roll(n, 1, dims=3)).mean().square()
            reg = reg + (n * torch.roll(n, 1, dims=2)).mean().square()
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return reg


def w_stats(G: Generator, samples: int, seed: int) -> tuple[torch.Tensor, float]:
    """Mean w ([1, w_dim]) and its spread (root mean squared distance from the mean)."""
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=gen).to(dev)
    with torch.no_grad():
        w = torch.cat([G.mapping(z[i : i + 1000], None)[:, 0] for i in range(0, samples, 1000)])
    w_avg = w.mean(0, keepdim=True)
    w_std = float((w - w_avg).square().sum(1).mean().sqrt())
    return w_avg, w_std


def learning_rate(cfg: ProjectConfig, t: float) -> float:
    """The learning rate at progress t in [0, 1).

    Up over `lr_rampup`, cosine down over `lr_rampdown`.
    """
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / cfg.lr_rampup) if cfg.lr_rampup > 0 else 1.0
    return cfg.initial_lr * ramp


def project(
    G: Generator,
    target: torch.Tensor,
    distance: Callable[[torch.Tensor], torch.Tensor],
    cfg: ProjectConfig = ProjectConfig(),
    progress: Callable[[int, int, float], None] | None = None,
    *,
    init: torch.Tensor | None = None,
) -> Projection:
    """Fit G's latent (and noise) to `target` ([1, C, R, R] in [-1, 1]) under `distance`.

    `distance(images) -> [N]` is a closure over the target (see zizi.mirror.losses). G is
    left as it was (its noise buffers are restored). `progress(step, steps, loss)`.
    `init` ([1, num_ws, w_dim], an encoder's guess) starts the search there instead of at
    the mean w: then the noise maps start as G's own (what the encoder was trained with),
    the peak rate is `refine_lr` and no w noise is added, so the guess is refined, not lost.
    """
    steps = projection_steps(G, target, distance, cfg, init=init)
    while True:
        try:
            step, loss, _img = next(steps)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(step, cfg.steps, loss)


def projection_steps(
    G: Generator,
    target: torch.Tensor,
    distance: Callable[[torch.Tensor], torch.Tensor],
    cfg: ProjectConfig = ProjectConfig(),
    *,
    init: torch.Tensor | None = None,
) -> Generator_[tuple[int, float, torch.Tensor], None, Projection]:
    """`project`, one step at a time: yields (step from 1, distance, the image the step
    measured: [1, C, R, R], the search's w noise included) and returns the Projection, so a
    progress video (`zizi project --video`) is drawn as the search runs, nothing kept."""
    if G.c_dim > 0:
        raise ZiziError(
            "this model is conditional (it draws one of several classes); "
            "mirror needs an unconditional face model"
        )
    if cfg.steps < 1:
        raise ZiziError(f"--steps must be at least 1, got {cfg.steps}")
    if cfg.space not in ("w", "w+"):
        raise ZiziError(f"--space must be w or w+, got {cfg.space!r}")
    G.requires_grad_(False)  # only the latent and the noise maps are optimised
    dev = next(G.parameters()).device
    target = target.to(dev)
    w_avg, w_std = w_stats(G, cfg.w_avg_samples, cfg.seed)
    width = 1 if cfg.space == "w" else G.num_ws
    if init is None:
        start = w_avg[:, None].repeat(1, width, 1)
    else:
        if tuple(init.shape) != (1, G.num_ws, G.w_dim):
            raise ZiziError(
                f"the encoder's guess is shaped {tuple(init.shape)}, the model "
                f"needs (1, {G.num_ws}, {G.w_dim})"
            )
        start = init.to(dev).float() if width > 1 else init.to(dev).float().mean(1, keepdim=True)
        cfg = replace(cfg, initial_lr=cfg.refine_lr, noise_strength=0.0)
    w_opt = start.detach().clone().requires_grad_(True)  # [1, width, w_dim]

    layers = noise_layers(G)
    saved = {
        name: m.noise_const for name, m in layers.items()
    }  # the buffers themselves, put back after
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    noise = {
        name: (
            torch.randn(b.shape, generator=gen).to(dev)
            if init is None
            else b.detach().clone().float()
        ).requires_grad_(cfg.optimize_noise)
        for name, b in saved.items()
    }
    params = [w_opt] + (list(noise.values()) if cfg.optimize_noise else [])
    opt = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.initial_lr)
    losses: list[float] = []
    try:
        for name, m in layers.items():
            m.noise_const = noise[name]  # the buffer now is the optimised tensor
        for step in range(cfg.steps):
            t = step / cfg.steps
            w_noise_scale = w_std * cfg.noise_strength * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2
            for g in opt.param_groups:
                g["lr"] = learning_rate(cfg, t)
            w_noise = torch.randn(w_opt.shape, generator=gen).to(dev) * w_noise_scale
            ws = (w_opt + w_noise).expand(1, G.num_ws, -1)
            img = G.synthesis(ws, noise_mode="const", force_fp32=True)
            dist = distance(img).sum()
            loss = dist
            if cfg.optimize_noise:
                loss = loss + cfg.noise_reg * noise_regularizer(list(noise.values()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(dist.detach()))
            with torch.no_grad():  # renormalise: zero mean, unit variance (appendix D)
                for n in noise.values():
                    n -= n.mean()
                    n *= n.square().mean().rsqrt()
            yield step + 1, losses[-1], img.detach()
    finally:
        for name, m in layers.items():
            m.noise_const = saved[name]
    ws = w_opt.detach().expand(1, G.num_ws, -1).clone()
    return Projection(ws=ws, noise={k: v.detach().clone() for k, v in noise.items()}, losses=losses)


def encode(G: Generator, encoder: torch.nn.Module, target: torch.Tensor) -> Projection:
    """The encoder's guess as a projection (no optimisation): its W+ and G's own noise maps,
    the ones it was trained with."""
    dev = next(G.parameters()).device
    with torch.no_grad():
        ws = encoder.to(dev)(target.to(dev).float())  # [1, num_ws, w_dim]
    noise = {name: m.noise_const.detach().clone() for name, m in noise_layers(G).items()}
    return Projection(ws=ws, noise=noise)


def synthesize_projection(G: Generator, p: Projection) -> torch.Tensor:
    """G's image of a projection ([1, C, R, R] float in about [-1, 1]).

    G's own noise is restored after.
    """
    layers = noise_layers(G)
    saved = {name: m.noise_const.detach().clone() for name, m in layers.items()}
    try:
        set_noise(G, p.noise)
        with torch.no_grad():
            return G.synthesis(
                p.ws.to(next(G.parameters()).device), noise_mode="const", force_fp32=True
            )
    finally:
        set_noise(G, saved)
