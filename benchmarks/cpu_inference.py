"""CPU inference: NVIDIA's grouped modconv against the shared-weight path zizi takes there.

For inference NVIDIA's code runs each modulated conv as one grouped conv over per-sample
weights; zizi does so on a GPU and for one sample, but on the CPU with several samples it
scales the activations around one shared-weight conv (`use_fused_modconv`). This times one
generator forward (config-f preset at RES, const noise, no grad) both ways in the same
process, alternating, in CPU time (fair on a shared machine), and prints the largest
difference between the two images relative to their largest magnitude. Usage:

    OMP_NUM_THREADS=1 python benchmarks/cpu_inference.py [--res 32 64 256] [--batch 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

import zizi.nets.generator as generator
from zizi.config import GeneratorConfig, load_yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "nets"


def cpu_ms(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return sorted(times)[repeat // 2] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, nargs="+", default=[32, 64, 256])
    ap.add_argument("--batch", type=int, nargs="+", default=[8])
    args = ap.parse_args()
    auto = generator.use_fused_modconv
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); CPU ms per forward")
    for res in args.res:
        preset = CONFIGS / ("ffhq-256.yaml" if res <= 256 else "ffhq-1024.yaml")
        cfg = dataclasses.replace(load_yaml(preset, GeneratorConfig), img_resolution=res)
        torch.manual_seed(0)
        G = generator.Generator(cfg).eval().requires_grad_(False)
        for batch in args.batch:
            z = torch.randn(batch, cfg.z_dim)
            times: dict[str, list[float]] = {"grouped": [], "shared": []}
            images = {}
            with torch.no_grad():
                try:
                    for name in ("grouped", "shared", "grouped", "shared"):
                        generator.use_fused_modconv = (
                            auto if name == "shared" else (lambda *a: True)
                        )
                        images.setdefault(name, G(z, noise_mode="const"))
                        times[name].append(cpu_ms(lambda G=G, z=z: G(z, noise_mode="const")))
                finally:
                    generator.use_fused_modconv = auto
            a, b = images["grouped"], images["shared"]
            diff = ((a - b).abs().max() / a.abs().max()).item()
            g, s = min(times["grouped"]), min(times["shared"])
            print(
                f"res {res:>4}² batch {batch:>2}: grouped {g:8.0f}  shared-weight {s:8.0f}  "
                f"{g / s:5.2f}x  max rel. diff {diff:.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
