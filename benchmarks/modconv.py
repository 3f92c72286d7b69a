"""Modulated convolution: demodulation by a matmul against the per-sample weight tensor.

Times `zizi.nets.layers.modulated_conv2d` (coefficients rsqrt(s² @ (Σ_k W²)ᵀ + eps), gain
and bias folded into the scale pass) against the same layer written the way StyleGAN2
defines it (build [N, C_out, C_in, k, k], square and sum it, rescale; then bias_act with
bias and gain), forward + backward for the training path (fused=False) and forward for the
inference path (fused=True). Reports CPU time (process time: fair on a shared CPU) and the
largest relative difference of the outputs. Usage:

    OMP_NUM_THREADS=1 python benchmarks/modconv.py [--channels 128 512] [--batch 8] [--res 16]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from zizi.nets.layers import modulated_conv2d

GAIN = 2**0.5


def by_definition(x, w, s, noise, b, fused):
    """The pre-#23 code path: the per-sample weight tensor, then bias, lrelu and gain."""
    n, cin = s.shape
    wm = w.unsqueeze(0) * s.reshape(n, 1, -1, 1, 1)  # [N, C_out, C_in, k, k]
    d = (wm.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, C_out]
    if fused:
        wm = (wm * d.reshape(n, -1, 1, 1, 1)).reshape(-1, cin, *w.shape[2:])
        y = F.conv2d(x.reshape(1, -1, *x.shape[2:]), wm, padding=1, groups=n)
        y = y.reshape(n, -1, *y.shape[2:])
    else:
        y = F.conv2d(x * s.reshape(n, -1, 1, 1), w, padding=1) * d.reshape(n, -1, 1, 1)
    y = y + noise
    return F.leaky_relu(y + b.reshape(1, -1, 1, 1), 0.2) * GAIN


def folded(x, w, s, noise, b, fused):
    y = modulated_conv2d(x, w, s, noise, padding=1, fused=fused, gain=GAIN, bias=b * GAIN)
    return F.leaky_relu(y, 0.2)


def cpu_time(fn, repeat: int) -> float:
    fn()
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--res", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}, "
        f"{args.res}², 3x3, CPU ms per call (process time)"
    )
    print("| channels | path | definition | zizi | speed-up | max rel. diff |")
    print("|---:|---|---:|---:|---:|---:|")
    for c in args.channels:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(args.batch, c, args.res, args.res, generator=g)
        w = torch.randn(c, c, 3, 3, generator=g, requires_grad=True)
        s = torch.randn(args.batch, c, generator=g, requires_grad=True)
        noise = torch.randn(args.batch, 1, args.res, args.res, generator=g) * 0.1
        b = torch.randn(c, generator=g)
        for fused in (False, True):

            def run(f, fused=fused, inputs=(x, w, s, noise, b)):
                if fused:
                    with torch.no_grad():
                        return f(*inputs, True)
                y = f(*inputs, False)
                y.square().mean().backward()
                return y

            t_def, t_new = (
                cpu_time(lambda: run(by_definition), args.repeat),
                cpu_time(lambda: run(folded), args.repeat),
            )
            with torch.no_grad():
                a, z = by_definition(x, w, s, noise, b, fused), folded(x, w, s, noise, b, fused)
            diff = ((a - z).abs().max() / a.abs().max()).item()
            path = "inference (fused) fwd" if fused else "training (unfused) fwd+bwd"
            print(
                f"| {c} | {path} | {t_def * 1e3:.2f} | {t_new * 1e3:.2f} | "
                f"{t_def / t_new:.2f}x | {diff:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
