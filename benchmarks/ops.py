"""Speed of zizi's custom ops against their PyTorch references, at FFHQ-1024 training shapes.

Times forward + backward (median of --repeat runs after a warm-up) of:
  * bias_act (lrelu, bias, gain, clamp) at the generator's activation shapes;
  * upfirdn2d 2x up and 2x down with the 4x4 [1,3,3,1] filter;
  * the input-gradient backward of a discriminator conv, as an R1 penalty runs it
    (create_graph=True), with and without zizi's weight-gradient skip.
On CUDA it compares the kernels (ZIZI_OPS=cuda) with the references (ZIZI_OPS=ref). On
CPU, where the ops always use the reference, it times the reference and the weight-
gradient skip only. --quick uses batch 1 and the smaller shapes (what CPU runs want).
--step also times a 256² G+D step (non-saturating losses and R1 on the reals, no
optimiser or augmentation) with ZIZI_OPS=ref and, on CUDA, ZIZI_OPS=cuda: a stand-in
for the trainer's step until the trainer exists.

    python benchmarks/ops.py [--device auto|cpu|cuda] [--quick] [--repeat 10] [--step]
                             [--layers N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from zizi.ops.bias_act import bias_act
from zizi.ops.conv2d_nowgrad import conv2d, no_weight_gradients
from zizi.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

# (channels, resolution) of the FFHQ-1024 config-f synthesis/discriminator layers.
LAYERS = [(512, 32), (512, 64), (256, 128), (128, 256), (64, 512), (32, 1024)]


def timed(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    """Median seconds of fn() after one warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@contextlib.contextmanager
def ops_mode(mode: str):
    old = os.environ.get("ZIZI_OPS")
    os.environ["ZIZI_OPS"] = mode
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ZIZI_OPS", None)
        else:
            os.environ["ZIZI_OPS"] = old


def fwd_bwd(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        y = op(x)
        return torch.autograd.grad(y, [x], torch.ones_like(y))

    return run


def compare(
    name: str,
    op: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    repeat: int,
) -> None:
    with ops_mode("ref"):
        t_ref = timed(fwd_bwd(op, x), device, repeat)
    if device.type != "cuda":
        print(f"{name:<44} ref {t_ref * 1e3:9.2f} ms")
        return
    with ops_mode("cuda"):
        t_cuda = timed(fwd_bwd(op, x), device, repeat)
    print(
        f"{name:<44} ref {t_ref * 1e3:9.2f} ms   cuda {t_cuda * 1e3:9.2f} ms   "
        f"speed-up {t_ref / t_cuda:5.2f}x"
    )


def weight_grad_skip(
    device: torch.device, batch: int, layers: list[tuple[int, int]], repeat: int, dtype: torch.dtype
) -> None:
    for c, res in layers:
        x = torch.randn(batch, c, res, res, device=device, dtype=dtype, requires_grad=True)
        w = torch.randn(c, c, 3, 3, device=device, dtype=dtype, requires_grad=True)
        b = torch.zeros(c, device=device, dtype=dtype, requires_grad=True)

        def r1(conv, ctx, inputs, x=x, w=w, b=b):
            y = conv(x, w, b, padding=1)
            dy = torch.ones_like(y)

            def run() -> object:
                with ctx():
                    return torch.autograd.grad(y, inputs, dy, retain_graph=True, create_graph=True)

            return run

        t_both = timed(r1(F.conv2d, contextlib.nullcontext, [x, w, b]), device, repeat)
        t_torch_x = timed(r1(F.conv2d, contextlib.nullcontext, [x]), device, repeat)
        t_ours = timed(r1(conv2d, contextlib.nullcontext, [x]), device, repeat)
        t_skip = timed(r1(conv2d, no_weight_gradients, [x]), device, repeat)
        print(
            f"conv3x3 {c}ch {res}² input-grad backward (create_graph): "
            f"F.conv2d x+w+b {t_both * 1e3:7.2f} ms | F.conv2d x {t_torch_x * 1e3:7.2f} ms | "
            f"zizi conv2d x {t_ours * 1e3:7.2f} ms | zizi conv2d x, no_weight_gradients "
            f"{t_skip * 1e3:7.2f} ms (saving vs x+w+b {1 - t_skip / t_both:.0%})"
        )


def train_step(device: torch.device, batch: int, repeat: int) -> None:
    from zizi.config import DiscriminatorConfig, GeneratorConfig, load_yaml
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    preset = Path(__file__).resolve().parent.parent / "configs" / "nets" / "ffhq-256.yaml"
    gcfg = load_yaml(preset, GeneratorConfig)
    dcfg = DiscriminatorConfig(
        img_resolution=256,
        channel_base=16384,
        channel_max=512,
        num_fp16_res=4 if device.type == "cuda" else 0,
        conv_clamp=256,
    )
    G, D = Generator(gcfg).to(device), Discriminator(dcfg).to(device)
    z = torch.randn(batch, gcfg.z_dim, device=device)
    reals = torch.randn(batch, 3, 256, 256, device=device)

    def step() -> None:
        fake = G(z)
        loss = F.softplus(-D(fake)).mean() + F.softplus(D(fake.detach())).mean()
        real = reals.detach().requires_grad_()
        logits = D(real)
        with no_weight_gradients():
            (grad,) = torch.autograd.grad(logits.sum(), [real], create_graph=True)
        (loss + F.softplus(-logits).mean() + grad.square().sum([1, 2, 3]).mean()).backward()

    modes = ["ref"] + (["cuda"] if device.type == "cuda" else [])
    times = {}
    for mode in modes:
        with ops_mode(mode):
            times[mode] = timed(step, device, repeat)
        print(f"256² G+D step (R1) batch {batch} ZIZI_OPS={mode:<4} {times[mode] * 1e3:9.1f} ms")
    if "cuda" in times:
        print(f"256² step speed-up {times['ref'] / times['cuda']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="batch 1 and the smaller layers")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--step", action="store_true", help="also time a 256² G+D training step")
    ap.add_argument(
        "--layers",
        type=int,
        default=None,
        help="only the first N layer shapes (the GPU session's CPU dry run uses 1)",
    )
    args = ap.parse_args()
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    quick = args.quick or device.type == "cpu"
    batch = 1 if quick else 4  # FFHQ-1024 in the StyleGAN2-ADA paper: 32 over 8 GPUs
    layers = LAYERS[:3] if quick else LAYERS
    layers = layers[: args.layers] if args.layers else layers
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {batch}{' (quick)' if quick else ''}"
    )

    dtypes = [torch.float32] + ([torch.float16] if device.type == "cuda" else [])
    f = setup_filter([1, 3, 3, 1], device=device)
    for dtype in dtypes:
        tag = str(dtype).removeprefix("torch.")
        for c, res in layers:
            x = torch.randn(batch, c, res, res, device=device, dtype=dtype, requires_grad=True)
            b = torch.randn(c, device=device, dtype=dtype, requires_grad=True)
            compare(
                f"bias_act lrelu {tag} [{batch},{c},{res},{res}]",
                lambda x, b=b: bias_act(x, b, act="lrelu", clamp=256),
                x,
                device,
                args.repeat,
            )
        for c, res in layers:
            x = torch.randn(
                batch, c, res // 2, res // 2, device=device, dtype=dtype, requires_grad=True
            )
            compare(
                f"upsample2d 2x 4x4 {tag} [{batch},{c},{res // 2}²]",
                lambda x: upsample2d(x, f),
                x,
                device,
                args.repeat,
            )
            x = torch.randn(batch, c, res, res, device=device, dtype=dtype, requires_grad=True)
            compare(
                f"downsample2d 2x 4x4 {tag} [{batch},{c},{res}²]",
                lambda x: downsample2d(x, f),
                x,
                device,
                args.repeat,
            )
    weight_grad_skip(device, batch, layers, args.repeat, torch.float32)
    if args.step:
        train_step(device, batch if device.type == "cuda" else 1, max(args.repeat // 3, 2))


if __name__ == "__main__":
    main()
