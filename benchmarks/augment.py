"""Cost of ADA's augmentation pipeline per minibatch, against what D costs on the same images.

Times (median of --repeat runs after a warm-up), at p = 1 so every operation runs:
  * the 'bgc' pipe forward;
  * pipe forward + backward to the images, as D's loss backward reaches them;
  * the R1 pass through the pipe: input gradient with create_graph, then the penalty's
    backward (the double backward through grid_sample_gradfix);
and, for scale, the discriminator forward + backward alone at the same shape.

    python benchmarks/augment.py [--device auto|cpu|cuda] [--res 256] [--batch 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from zizi.config import DiscriminatorConfig
from zizi.nets.discriminator import Discriminator
from zizi.train.augment import AugmentPipe


def timed(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    fn()
    out = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    pipe = AugmentPipe.preset("bgc", p=1.0).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(args.batch, 3, args.res, args.res, device=device) * 2 - 1
    d = Discriminator(DiscriminatorConfig(img_resolution=args.res)).to(device).requires_grad_(True)

    def forward():
        with torch.no_grad():
            pipe(x, gen)

    def backward():
        xi = x.clone().requires_grad_(True)
        pipe(xi, gen).square().sum().backward()

    def r1():
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d(pipe(xi, gen)).sum(), [xi], create_graph=True)
        g.square().sum().backward()

    def d_only():
        d(x).sum().backward()

    rows = [
        ("pipe forward", forward),
        ("pipe forward+backward", backward),
        ("D(pipe) R1 pass (double backward)", r1),
        ("D forward+backward alone", d_only),
    ]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"# {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {args.batch}, {args.res}², config-f D"
    )
    for label, fn in rows:
        print(f"{label:40s} {timed(fn, device, args.repeat) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
