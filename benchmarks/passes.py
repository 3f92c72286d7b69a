"""The per-parameter updates and the FIR padding: the old loops against the calls zizi uses.

Each line times one step of a training iteration both ways on a generator's parameters
(32² with 128 channels and 8 mapping layers by default: 68 tensors, 1.35 M values):
G_ema's update (a `lerp` + `copy_` per tensor vs one `torch._foreach_lerp_`), the
finite-gradient check (`nan_to_num` per tensor vs one foreach non-finite check; the
foreach norm is shown too, rejected: slower on the CPU), Adam (per-tensor loop vs foreach
vs fused), the FIR blur's padding (`F.pad` then a depthwise conv vs the padding inside
the conv), and the mapping network's forward + backward at batch 32 (bias, lrelu and gain
as passes of their own vs folded into the matmul). CPU milliseconds per call (process
time: fair on a shared CPU). Usage:

    OMP_NUM_THREADS=1 python benchmarks/passes.py [--res 32] [--channels 128]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

import zizi.nets.layers as layers
from zizi.config import GeneratorConfig, MappingConfig
from zizi.nets.generator import Generator


def cpu_ms(fn, repeat: int = 20) -> float:
    fn()
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) / repeat * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--channels", type=int, default=128)
    args = ap.parse_args()
    c = args.channels
    cfg = GeneratorConfig(
        z_dim=c,
        w_dim=c,
        img_resolution=args.res,
        channel_base=c * args.res * 4,
        channel_max=c,
        mapping=MappingConfig(num_layers=8),
    )
    torch.manual_seed(0)
    ps, es = list(Generator(cfg).parameters()), list(Generator(cfg).parameters())
    for p in ps:
        p.grad = torch.randn_like(p)
    gs = [p.grad for p in ps]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(ps)} tensors, "
        f"{sum(p.numel() for p in ps) / 1e6:.2f} M values; CPU ms per call"
    )

    @torch.no_grad()
    def ema_loop():
        for pe, p in zip(es, ps):
            pe.copy_(p.lerp(pe, 0.99))

    @torch.no_grad()
    def ema_foreach():
        torch._foreach_lerp_(es, ps, 0.01)

    def finite_loop():
        for g in gs:
            torch.nan_to_num(g, nan=0, posinf=1e5, neginf=-1e5, out=g)

    def finite_norm():
        if not bool(torch.stack(torch._foreach_norm(gs, math.inf)).isfinite().all()):
            finite_loop()

    found, one = torch.zeros(1), torch.ones(1)

    def finite_check():
        torch._amp_foreach_non_finite_check_and_unscale_(gs, found, one)
        if found.item():
            finite_loop()

    rows = [
        ("G_ema update", "loop", ema_loop, "foreach lerp", ema_foreach),
        ("finite gradients", "loop", finite_loop, "foreach check", finite_check),
        ("finite gradients", "loop", finite_loop, "foreach norm", finite_norm),
    ]
    for name, a, fa, b, fb in rows:
        ta, tb = cpu_ms(fa), cpu_ms(fb)
        print(f"{name:18s} {a:6s} {ta:7.2f}   {b:14s} {tb:7.2f}   {ta / tb:5.2f}x")
    times = {}
    for kind, kw in (
        ("loop", {"foreach": False}),
        ("foreach", {"foreach": True}),
        ("fused", {"fused": True}),
    ):
        opt = torch.optim.Adam(ps, lr=1e-3, betas=(0.0, 0.99), **kw)
        times[kind] = cpu_ms(opt.step)
    print(
        f"{'Adam step':18s} loop   {times['loop']:7.2f}   foreach {times['foreach']:7.2f}   "
        f"fused {times['fused']:7.2f}   fused {times['loop'] / times['fused']:5.2f}x"
    )
    # FIR blur before a stride-2 conv at 64² with the channels above, batch 8
    x = torch.randn(8, c, args.res * 2, args.res * 2, requires_grad=True)
    f = torch.ones(c, 1, 4, 4) / 16

    def pad_then_conv():
        F.conv2d(F.pad(x, [2, 2, 2, 2]), f, groups=c).sum().backward()

    def conv_padding():
        F.conv2d(x, f, groups=c, padding=2).sum().backward()

    ta, tb = cpu_ms(pad_then_conv, 10), cpu_ms(conv_padding, 10)
    print(
        f"{'FIR pad, fwd+bwd':18s} F.pad  {ta:7.2f}   {'conv padding':14s} {tb:7.2f}   "
        f"{ta / tb:5.2f}x"
    )
    mapping = Generator(cfg).mapping
    z = torch.randn(32, cfg.z_dim, requires_grad=True)

    def mapping_step():
        mapping(z).sum().backward()

    folded = cpu_ms(mapping_step, 50)
    kernel_test = layers.uses_kernel
    layers.uses_kernel = lambda t: True  # the unfolded path (bias_act's reference runs)
    try:
        passes = cpu_ms(mapping_step, 50)
    finally:
        layers.uses_kernel = kernel_test
    print(
        f"{'mapping, fwd+bwd':18s} passes {passes:7.2f}   {'folded':14s} {folded:7.2f}   "
        f"{passes / folded:5.2f}x"
    )


if __name__ == "__main__":
    main()
