"""Which projection loss works best without downloads: reconstruction quality per loss.

For each loss mix of zizi.mirror.losses.OwnDistance (pixel, pixel + MS-SSIM, discriminator
features, all three), project (a) images the model drew itself from known seeds and
(b) a real face photo (scikit-image's `astronaut`, FFHQ-aligned like `zizi mirror`) and
report PSNR and MS-SSIM of the reconstruction against the target, the w error for (a),
and seconds. Higher PSNR/MS-SSIM is better.

    python benchmarks/mirror.py --ckpt zizi/demo/base-32.safetensors --steps 300
    python benchmarks/mirror.py --tiny --steps 100     # a 16² untrained tiny net
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zizi.mirror import losses  # noqa: E402
from zizi.mirror.project import ProjectConfig, project, synthesize_projection  # noqa: E402

MIXES = {
    "pixel": losses.OwnWeights(disc=0, pixel=1, ssim=0),
    "pixel+ms-ssim": losses.OwnWeights(disc=0, pixel=1, ssim=1),
    "disc": losses.OwnWeights(disc=1, pixel=0, ssim=0),
    "disc+pixel+ms-ssim": losses.OwnWeights(disc=1, pixel=1, ssim=1),
}


def nets(args):
    if args.tiny:
        from tests.helpers.tiny import tiny_configs
        from zizi.nets.discriminator import Discriminator
        from zizi.nets.generator import Generator

        torch.manual_seed(0)
        g, d = tiny_configs(16)
        return Generator(g).eval(), Discriminator(d).eval()
    from zizi.io.checkpoint import build_discriminator, build_generator, load_checkpoint

    ck = load_checkpoint(args.ckpt, nets=["G_ema", "D"])
    return build_generator(ck), build_discriminator(ck)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--space", default="w")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    G, D = nets(args)
    targets = []
    for s in range(args.seeds):
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(100 + s))
        with torch.no_grad():
            ws = G.mapping(z, None)
            # clamped like a photo: an untrained net overshoots [-1, 1]
            img = G.synthesis(ws, noise_mode="const").clamp(-1, 1)
            targets.append((f"seed {100 + s}", img, ws))
    try:
        import skimage.data
        from PIL import Image

        from zizi.mirror.photo import frame
        from zizi.mirror.reflect import _to_tensor

        crop = frame(Image.fromarray(skimage.data.astronaut()), G.img_resolution, "face")
        targets.append(("astronaut", _to_tensor(crop), None))
    except Exception as e:  # no scikit-image or no face extra: the seeds alone
        print(f"# astronaut left out: {e}")
    cfg = ProjectConfig(steps=args.steps, space=args.space, w_avg_samples=2000)
    print("| loss | target | PSNR dB | MS-SSIM | w error | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for name, mix in MIXES.items():
        for label, target, ws in targets:
            t0 = time.perf_counter()
            p = project(G, target, losses.OwnDistance(D, target, mix), cfg)
            sec = time.perf_counter() - t0
            img = synthesize_projection(G, p).clamp(-1, 1)
            werr = "" if ws is None else f"{float((p.ws - ws).norm() / ws.norm()):.3f}"
            print(
                f"| {name} | {label} | {losses.psnr(img, target):.2f} | "
                f"{float(losses.ms_ssim(img, target)):.3f} | {werr} | {sec:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
