"""Training speed of `zizi train`: sec/kimg, images/s and peak memory on the current device.

The timed path is the trainer's full step (G main, path length every 4, D main, R1 every
16, G_ema) on random weights and random reals, so data decoding is left out (it runs in
DataLoader workers beside the step). A window of 16 steps holds the regularisers in their
real proportion; fewer steps (for a slow CPU) leave some out and say so. Usage:

    python benchmarks/train.py [--device auto|cpu|cuda] [--net f256 f1024 tiny] [--batch 32]
                               [--batch-gpu N] [--steps 16] [--warmup 2]
                               [--precision auto fp32 fp16 bf16] [--channels-last]
    python benchmarks/train.py --vs-reference /tmp/ref-s2a [--net s32 s64] [--repeats 3]

Nets: f256 = configs/nets/ffhq-256.yaml (the ADA tools' paper256 shape), f1024 =
configs/nets/ffhq-1024.yaml (config-f), tiny = configs/nets/tiny.yaml with batch 4;
s32 = 32² with 128 channels and s64 = 64² with 64 channels (sizes a CPU can time).
--precision runs each net in each listed precision (the trainer's `precision` setting:
the dtype of the top num_fp16_res blocks; auto = fp16 on CUDA, fp32 on the CPU).
--channels-last times each one also with the NHWC layout (`zizi train --channels-last`).
--batch-gpu splits each step's batch into rounds of that many images (less memory).

`--vs-reference PATH` times NVIDIA's stylegan2-ada-pytorch (a local checkout at PATH; zizi
itself never imports it) on the same architecture, batch and phases: its StyleGAN2Loss
with lazy regularisation (G reg every 4, D reg every 16), Adam per phase, its gradient
clean-up and its G_ema update, as its training loop runs them. Each (implementation, net,
repeat) runs in a fresh process, the two alternating (the order swaps every repeat), and
each reports its own CPU time, so a CPU shared with other jobs skews both alike; the
printed ratio is reference time / zizi time (> 1: zizi is faster), from the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from zizi.config import GeneratorConfig, MappingConfig, load_yaml
from zizi.runtime import select_device
from zizi.train.config import resolve_config
from zizi.train.setup import fresh_checkpoint, matching_discriminator
from zizi.train.step import train_step
from zizi.train.trainer import Trainer

NETS = Path(__file__).resolve().parent.parent / "configs" / "nets"
PRESETS = {"f256": "ffhq-256.yaml", "f1024": "ffhq-1024.yaml", "tiny": "tiny.yaml"}
SMALL = {  # sizes a CPU can time in seconds per step, with widths that make convs matter
    "s32": GeneratorConfig(
        z_dim=128,
        w_dim=128,
        img_resolution=32,
        channel_base=4096,
        channel_max=128,
        mapping=MappingConfig(num_layers=2),
    ),
    "s64": GeneratorConfig(
        z_dim=64,
        w_dim=64,
        img_resolution=64,
        channel_base=4096,
        channel_max=64,
        mapping=MappingConfig(num_layers=2),
    ),
}


def net_config(net: str) -> GeneratorConfig:
    return SMALL[net] if net in SMALL else load_yaml(NETS / PRESETS[net], GeneratorConfig)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(
    net: str,
    batch: int,
    steps: int,
    warmup: int,
    device: torch.device,
    precision: str = "auto",
    batch_gpu: int | None = None,
    channels_last: bool = False,
) -> dict:
    g_cfg = net_config(net)
    cfg = resolve_config(
        flags={
            "batch": batch,
            "seed": 0,
            "precision": precision,
            "batch_gpu": batch_gpu,
            "speed": {"channels_last": channels_last},
        }
    )
    trainer = Trainer(fresh_checkpoint(g_cfg), cfg, device)
    res = g_cfg.img_resolution
    gen = torch.Generator().manual_seed(0)
    reals = torch.rand([batch, 3, res, res], generator=gen) * 2 - 1
    if device.type == "cuda":
        reals = reals.to(device)
    for _ in range(warmup):
        train_step(trainer, reals, None)
    trainer.step = 0  # the timed window starts where both regularisers run
    return {
        **_timed(lambda: train_step(trainer, reals, None), net, batch, steps, device),
        "precision": trainer.precision,
    }


def _timed(step, net: str, batch: int, steps: int, device: torch.device) -> dict:
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    load0 = os.getloadavg()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    images = steps * batch
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "net": net,
        "batch": batch,
        "steps": steps,
        "sec_per_kimg": dt / images * 1000,
        "cpu_s_per_step": cpu / steps,
        "wall_s_per_step": dt / steps,
        "load": (load0 + os.getloadavg()[0]) / 2,
        "images_per_s": images / dt,
        "peak_gib": peak,
        "regularisers": "R1 + path length in proportion"
        if steps >= 16
        else f"{steps} steps: R1 once, path length {1 + (steps - 1) // 4}x (over-weighted)",
    }


def bench_reference(
    ref: Path, net: str, batch: int, steps: int, warmup: int, device: torch.device
) -> dict:
    """NVIDIA's training step on the architecture that zizi's `net` preset builds."""
    import copy

    sys.path.insert(0, str(ref))
    from training.loss import StyleGAN2Loss  # the reference's own code, from PATH
    from training.networks import Discriminator, Generator

    g, d = net_config(net), matching_discriminator(net_config(net))
    torch.manual_seed(0)
    G = Generator(
        z_dim=g.z_dim,
        c_dim=0,
        w_dim=g.w_dim,
        img_resolution=g.img_resolution,
        img_channels=g.img_channels,
        mapping_kwargs=dict(num_layers=g.mapping.num_layers),
        synthesis_kwargs=dict(
            channel_base=g.channel_base,
            channel_max=g.channel_max,
            num_fp16_res=g.num_fp16_res,
            conv_clamp=g.conv_clamp,
        ),
    )
    D = Discriminator(
        c_dim=0,
        img_resolution=d.img_resolution,
        img_channels=d.img_channels,
        channel_base=d.channel_base,
        channel_max=d.channel_max,
        num_fp16_res=d.num_fp16_res,
        conv_clamp=d.conv_clamp,
        epilogue_kwargs=dict(mbstd_group_size=d.mbstd_group_size),
    )
    G, D = G.to(device).train().requires_grad_(False), D.to(device).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    lc = resolve_config(flags={"batch": batch, "seed": 0})
    loss = StyleGAN2Loss(
        device,
        G.mapping,
        G.synthesis,
        D,
        r1_gamma=lc.loss.r1_gamma,
        style_mixing_prob=lc.loss.style_mixing_prob,
        pl_batch_shrink=lc.loss.pl_batch_shrink,
        pl_weight=lc.loss.pl_weight,
    )
    phases = []
    for name, module, interval, lr in [
        ("G", G, lc.loss.pl_interval, lc.optim.g_lr),
        ("D", D, lc.loss.r1_interval, lc.optim.d_lr),
    ]:
        ratio = interval / (interval + 1)
        opt = torch.optim.Adam(
            module.parameters(), lr=lr * ratio, betas=(0.0, lc.optim.beta2**ratio), eps=lc.optim.eps
        )
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    reals = (
        torch.rand(
            [batch, 3, g.img_resolution, g.img_resolution],
            generator=torch.Generator().manual_seed(0),
        )
        * 2
        - 1
    ).to(device)
    c = torch.zeros([batch, 0], device=device)
    state = {"idx": 0}

    def step() -> None:  # the body of the reference's training_loop, one minibatch
        for phase, module, opt, interval in phases:
            if state["idx"] % interval != 0:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(
                phase=phase,
                real_img=reals,
                real_c=c,
                gen_z=torch.randn([batch, g.z_dim], device=device),
                gen_c=c,
                sync=True,
                gain=interval,
            )
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        beta = 0.5 ** (batch / (lc.ema.kimg * 1000))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)
        state["idx"] += 1

    for _ in range(warmup):
        step()
    state["idx"] = 0
    return _timed(step, net, batch, steps, device)


def vs_reference(args: argparse.Namespace) -> None:
    """Alternate fresh worker processes of zizi and the reference; print the ratio per net."""
    ref = Path(args.vs_reference)
    if not (ref / "training" / "networks.py").is_file():
        sys.exit(
            f"--vs-reference: {ref} is not a stylegan2-ada-pytorch checkout "
            "(no training/networks.py)"
        )
    print(
        f"torch {torch.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"{os.cpu_count()} CPUs, reference {ref}"
    )
    print(
        "| net | batch | zizi CPU s/step | reference CPU s/step | ratio (CPU) | "
        "ratio (wall) | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for net in args.net:
        batch = 4 if net == "tiny" else args.batch
        runs: dict[str, list[dict]] = {"zizi": [], "ref": []}
        for r in range(args.repeats):
            for impl in ("zizi", "ref") if r % 2 == 0 else ("ref", "zizi"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    impl,
                    "--net",
                    net,
                    "--batch",
                    str(batch),
                    "--steps",
                    str(args.steps),
                    "--warmup",
                    str(args.warmup),
                    "--device",
                    args.device,
                ]
                if impl == "ref":
                    cmd += ["--vs-reference", str(ref)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    sys.exit(f"{impl} worker failed on {net}:\n{out.stderr[-2000:]}")
                runs[impl].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(
                f"  {net} repeat {r + 1}: zizi {runs['zizi'][-1]['cpu_s_per_step']:.3f}, "
                f"reference {runs['ref'][-1]['cpu_s_per_step']:.3f} CPU s/step",
                file=sys.stderr,
                flush=True,
            )
        med = {
            k: {
                m: statistics.median(x[m] for x in v)
                for m in ("cpu_s_per_step", "wall_s_per_step", "load")
            }
            for k, v in runs.items()
        }
        z, n = med["zizi"], med["ref"]
        print(
            f"| {net} | {batch} | {z['cpu_s_per_step']:.3f} | {n['cpu_s_per_step']:.3f} | "
            f"{n['cpu_s_per_step'] / z['cpu_s_per_step']:.2f}x | "
            f"{n['wall_s_per_step'] / z['wall_s_per_step']:.2f}x | "
            f"{(z['load'] + n['load']) / 2:.1f} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--net", nargs="+", default=None, choices=[*PRESETS, *SMALL])
    ap.add_argument(
        "--batch", type=int, default=None, help="32; 8 with --vs-reference (tiny always uses 4)"
    )
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-gpu", type=int, default=None)
    ap.add_argument(
        "--precision", nargs="+", default=["auto"], choices=["auto", "fp32", "fp16", "bf16"]
    )
    ap.add_argument(
        "--channels-last",
        action="store_true",
        help="also time each net with speed.channels_last (zizi train --channels-last)",
    )
    ap.add_argument(
        "--vs-reference",
        metavar="PATH",
        default=None,
        help="a local checkout of NVIDIA's stylegan2-ada-pytorch to compare with",
    )
    ap.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    ap.add_argument("--worker", choices=["zizi", "ref"], default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.batch is None:
        args.batch = 8 if args.vs_reference else 32
    if args.net is None:
        args.net = ["s32", "s64"] if args.vs_reference else ["f256", "f1024", "tiny"]
    device = select_device(args.device)
    if args.worker is not None:
        net = args.net[0]
        r = (
            bench(net, args.batch, args.steps, args.warmup, device)
            if args.worker == "zizi"
            else bench_reference(
                Path(args.vs_reference), net, args.batch, args.steps, args.warmup, device
            )
        )
        print(json.dumps(r))
        return
    if args.vs_reference:
        vs_reference(args)
        return
    print(
        f"device {device} "
        f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for net in args.net:
        batch = 4 if net == "tiny" else args.batch
        for precision, layout in [
            (p, cl)
            for p in args.precision
            for cl in ([False, True] if args.channels_last else [False])
        ]:
            r = bench(
                net,
                batch,
                args.steps,
                args.warmup,
                device,
                precision,
                args.batch_gpu if net != "tiny" else None,
                channels_last=layout,
            )
            mem = "peak GPU memory" if device.type == "cuda" else "peak RSS"
            print(
                f"{net:6s} {r['precision']}{' NHWC' if layout else ''} batch {batch:3d}: "
                f"{r['sec_per_kimg']:10.1f} sec/kimg  "
                f"{r['images_per_s']:8.2f} images/s  {mem} {r['peak_gib']:.2f} GiB  "
                f"({r['regularisers']})",
                flush=True,
            )
            del r
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
