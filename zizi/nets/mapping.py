"""The mapping network: z (and optional label c) -> w, with w_avg tracking and truncation."""

from __future__ import annotations

import torch
from torch import nn

from zizi.config import MappingConfig
from zizi.nets.layers import FullyConnectedLayer, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """8 equalised-lr dense layers (StyleGAN §2); broadcasts w to `num_ws` copies."""

    def __init__(
        self,
        z_dim: int,  # 0 = label-only (the conditional discriminator's label mapping)
        c_dim: int,  # 0 = unconditional
        w_dim: int,
        num_ws: int | None,  # None = return [N, w_dim] without broadcasting
        cfg: MappingConfig,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = cfg.num_layers
        self.w_avg_beta = cfg.w_avg_beta
        embed_features = (cfg.embed_features or w_dim) if c_dim > 0 else 0
        layer_features = cfg.layer_features or w_dim
        features = [z_dim + embed_features] + [layer_features] * (cfg.num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(cfg.num_layers):
            layer = FullyConnectedLayer(
                features[i],
                features[i + 1],
                activation=cfg.activation,
                lr_multiplier=cfg.lr_multiplier,
            )
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and cfg.w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,  # [N, z_dim]
        c: torch.Tensor | None = None,  # [N, c_dim]
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,  # update w_avg (training only)
    ) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(
                    f"z must be [N, {self.z_dim}], got {None if z is None else tuple(z.shape)}"
                )
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this network is conditional: c must be [N, {self.c_dim}]")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            if not hasattr(self, "w_avg"):
                raise ValueError(
                    "this mapping network tracks no w_avg (w_avg_beta is None), "
                    "so it cannot truncate; use truncation_psi=1"
                )
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x
