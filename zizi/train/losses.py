"""StyleGAN2's losses and regularisers as pure functions of tensors.

Non-saturating logistic loss (Goodfellow et al. 2014), R1 (Mescheder et al. 2018), path-
length regularisation and style mixing (StyleGAN2 §3.2, StyleGAN §3.1). Lazy
regularisation multiplies a penalty by its interval; the caller does that.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss per sample: softplus(−D(G(z))) = −log σ(D(G(z)))."""
    return F.softplus(-fake_logits)


def d_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic discriminator loss per sample: (softplus(D(fake)), softplus(−D(real)))."""
    return F.softplus(fake_logits), F.softplus(-real_logits)


def r1_penalty(reals: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """‖∇_x D(x)‖² per real image; `reals` must require grad and feed `real_logits`.

    `inputs=[reals]` makes autograd skip the weight gradients it would otherwise compute
    and drop (measured in benchmarks/RESULTS.md); `create_graph` lets the penalty train D.
    """
    (grads,) = torch.autograd.grad(
        real_logits.sum(), inputs=[reals], create_graph=True, only_inputs=True
    )
    return grads.square().sum(dim=[1, 2, 3])  # [N]


def path_lengths(
    fake: torch.Tensor, ws: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """‖J_wᵀ y‖ per sample, y ~ N(0, I)/√(H·W): the path length of StyleGAN2 §3.2.

    `ws` [N, num_ws, w_dim] must feed `fake` [N, C, H, W]; the gradient is summed over
    the ws of a sample and its square averaged over them, as the reference does.
    """
    h, w = fake.shape[2], fake.shape[3]
    noise = torch.randn(
        fake.shape, device=fake.device, dtype=fake.dtype, generator=generator
    ) / math.sqrt(h * w)
    (grads,) = torch.autograd.grad(
        (fake * noise).sum(), inputs=[ws], create_graph=True, only_inputs=True
    )
    return grads.square().sum(dim=2).mean(dim=1).sqrt()  # [N]


def pl_penalty(
    lengths: torch.Tensor, pl_mean: torch.Tensor, decay: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """((‖J_wᵀ y‖ − a)² per sample, the updated mean a); a ← a + decay·(mean length − a).

    The new `a` keeps the gradient of this batch's mean length, as StyleGAN2-ADA's
    reference does: the target moves with the batch (by `decay`), which adds
    −2·decay·mean(l − a) to each sample's gradient. Store `a.detach()` as the running mean.
    """
    new_mean = pl_mean.lerp(lengths.mean(), decay)
    return (lengths - new_mean).square(), new_mean


def mix_styles(
    G,
    z: torch.Tensor,
    c: torch.Tensor | None,
    prob: float,
    generator: torch.Generator | None = None,
    update_emas: bool = False,
) -> torch.Tensor:
    """ws for z, where with probability `prob` the ws from a random cutoff on come from a second z.

    The random draws are made for every sample whatever `prob` is, so the random stream
    does not depend on it.
    """
    ws = G.mapping(z, c, update_emas=update_emas)  # [N, num_ws, w_dim]
    if prob <= 0:
        return ws
    n, num_ws = ws.shape[0], ws.shape[1]
    dev = ws.device
    cutoff = (
        torch.randint(1, num_ws, [n], device=dev, generator=generator)
        if num_ws > 1
        else torch.ones([n], dtype=torch.int64, device=dev)
    )
    use = torch.rand([n], device=dev, generator=generator) < prob
    cutoff = torch.where(use, cutoff, torch.full_like(cutoff, num_ws))
    z2 = torch.randn(z.shape, device=dev, dtype=z.dtype, generator=generator)
    ws2 = G.mapping(z2, c, update_emas=False)
    later = torch.arange(num_ws, device=dev)[None, :] >= cutoff[:, None]  # [N, num_ws]
    return torch.where(later[:, :, None], ws2, ws)
