"""How SeFa and the shift direction compare with the alternatives, on real checkpoints.

1. zizi's SeFa (every modulated conv, no toRGB) against rosinality's
   `closed_form_factorization.py` recipe, which also takes `to_rgb1` (its filter drops
   "to_rgbs" only): top singular values and |cos| between matching directions.
2. The shift direction: how close the base's faces come to the fine-tune's (MSE in
   [-1, 1] pixels, on latents the fit never saw) with no offset, w_avg(B) - w_avg(A), and
   the fitted offset; and how big w_avg's own noise is (|w_avg - mean of mapped w|).

    python benchmarks/directions.py BASE.safetensors TUNED.safetensors
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from zizi.io.checkpoint import build_generator, load_checkpoint
from zizi.io.rosinality import nvidia_g_to_rosinality
from zizi.latents import z_for_seeds
from zizi.render.directions import factorize, fitted_shift, shift_direction


def main(base: str, tuned: str) -> None:
    ck = load_checkpoint(base, nets=["G_ema"])
    ros = nvidia_g_to_rosinality(ck.tensors["G_ema"], ck.g_config)
    W = torch.cat(
        [v for k, v in ros.items() if "modulation" in k and "to_rgbs" not in k and "weight" in k]
    ).double()
    V, S = torch.svd(W).V, torch.linalg.svdvals(W)
    ours = factorize(ck.tensors["G_ema"], ck.g_config.img_resolution, "all")
    print("singular values, rosinality recipe:", [round(float(x), 2) for x in S[:4]])
    print("singular values, zizi (no toRGB):  ", [round(float(x), 2) for x in ours.values[:4]])
    cos = [abs(float(ours.vectors[k].double() @ V[:, k])) for k in range(8)]
    print("|cos| of directions 0-7:", [round(c, 3) for c in cos])

    A = build_generator(ck)
    B = build_generator(load_checkpoint(tuned, nets=["G_ema"]))
    t = time.perf_counter()
    fit = fitted_shift(base, tuned)
    took = time.perf_counter() - t
    wavg = shift_direction(base, tuned)
    z = z_for_seeds(list(range(500, 564)), A.z_dim)
    with torch.no_grad():
        w = A.mapping(z, None)
        target = B.synthesis(B.mapping(z, None), noise_mode="const")
        for name, off in (("none", 0 * fit), ("w_avg difference", wavg), ("fitted", fit)):
            mse = F.mse_loss(A.synthesis(w + off, noise_mode="const"), target).item()
            print(f"offset {name:17s} |offset| {float(off.norm()):6.3f}  MSE to tuned {mse:.4f}")
        many = A.mapping(z_for_seeds(list(range(10_000, 14_096)), A.z_dim), None)[:, 0]
        noise = float((many.mean(0) - A.mapping.w_avg).norm())  # 4096 samples: mean known to ~0.07
        spread = float((many - A.mapping.w_avg).norm(dim=1).mean())
    print(f"base |w_avg - mean of 4096 mapped w| {noise:.3f}; mean |w - w_avg| {spread:.3f}")
    print(f"fit took {took:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:3])
