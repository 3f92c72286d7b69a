"""The learned inverter: reconstruction quality and time, and the live mirror's frame rate.

`compare`: encoder only vs encoder + N projection steps vs projection alone, PSNR and
MS-SSIM of G's reconstruction against the target, seconds per image. Targets: procedural
portraits the base model never saw (the demo's `base` kind, another seed), images the model
drew itself, and scikit-image's `astronaut` (FFHQ-aligned like `zizi mirror`).

`live`: the reflector alone (decode + frame + encode + two generators + PNG) on a 640x480
camera-like JPEG, then the whole server over websockets (one and two visitors sending as
fast as the server answers): reflections/s and latency.

    OMP_NUM_THREADS=1 python benchmarks/encoder.py compare --ckpt zizi/demo/base-32.safetensors \
        --encoder enc.safetensors
    OMP_NUM_THREADS=1 python benchmarks/encoder.py live --ckpt zizi/demo/base-32.safetensors \
        --shifted RUN --encoder enc.safetensors
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zizi.mirror import losses  # noqa: E402
from zizi.mirror.encoder import load_encoder  # noqa: E402
from zizi.mirror.project import ProjectConfig, encode, project, synthesize_projection  # noqa: E402


def targets(G, n_portraits: int) -> list[tuple[str, torch.Tensor]]:
    from zizi.demo.portraits import draw_portrait
    from zizi.mirror.reflect import _to_tensor

    out = []
    for i in range(n_portraits):
        im = draw_portrait("base", 901, i, size=128).resize((G.img_resolution,) * 2, 1)
        out.append((f"portrait {i}", _to_tensor(im)))
    for s in (100, 101):
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s))
        with torch.no_grad():
            out.append(
                (f"seed {s}", G.synthesis(G.mapping(z, None), noise_mode="const").clamp(-1, 1))
            )
    try:
        import skimage.data
        from PIL import Image

        from zizi.mirror.photo import frame

        crop = frame(Image.fromarray(skimage.data.astronaut()), G.img_resolution, "face")
        out.append(("astronaut", _to_tensor(crop)))
    except Exception as e:  # no scikit-image or no face extra
        print(f"# astronaut left out: {e}")
    return out


def compare(args) -> None:
    from zizi.io.checkpoint import build_discriminator, build_generator, load_checkpoint

    ck = load_checkpoint(args.ckpt, nets=["G_ema", "D"])
    G, D = build_generator(ck), build_discriminator(ck)
    enc, meta = load_encoder(args.encoder)
    print(f"# encoder: kimg {meta.get('kimg')}, loss {meta.get('loss')}")
    methods = [
        ("encoder only", 0, True, "w+"),
        (f"encoder + {args.short} steps", args.short, True, "w+"),
        (f"encoder + {args.long} steps", args.long, True, "w+"),
        (f"projection {args.long} steps (w+)", args.long, False, "w+"),
        (f"projection {args.full} steps (w, mirror's default)", args.full, False, "w"),
    ]
    if args.encoder_only:
        methods = [m for m in methods if m[2]]
    rows: dict[str, list[tuple[float, float, float]]] = {m[0]: [] for m in methods}
    for label, target in targets(G, args.portraits):
        for name, steps, use_enc, space in methods:
            t0 = time.perf_counter()
            guess = encode(G, enc, target) if use_enc else None
            if steps:
                cfg = ProjectConfig(steps=steps, space=space, w_avg_samples=2000)
                p = project(
                    G,
                    target,
                    losses.OwnDistance(D, target),
                    cfg,
                    init=None if guess is None else guess.ws,
                )
            else:
                p = guess
            img = synthesize_projection(G, p).clamp(-1, 1)
            sec = time.perf_counter() - t0
            rows[name].append((losses.psnr(img, target), float(losses.ms_ssim(img, target)), sec))
            print(
                f"# {label:12s} {name:40s} {rows[name][-1][0]:6.2f} dB "
                f"{rows[name][-1][1]:.3f} {sec:7.3f} s",
                flush=True,
            )
    print("| method | mean PSNR dB | mean MS-SSIM | seconds / image |")
    print("|---|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {statistics.mean(x[0] for x in r):.2f} | "
            f"{statistics.mean(x[1] for x in r):.3f} | {statistics.mean(x[2] for x in r):.3f} |"
        )


def _camera_jpeg() -> bytes:
    from PIL import Image

    try:
        import skimage.data

        face = Image.fromarray(skimage.data.astronaut()).crop((120, 0, 420, 300)).resize((300, 300))
    except ImportError:
        from zizi.demo.portraits import draw_portrait

        face = draw_portrait("base", 0, 0, size=300)
    canvas = Image.new("RGB", (640, 480), (40, 44, 52))
    canvas.paste(face, (170, 90))
    canvas = canvas.resize((320, 240))  # what the page sends (SEND_PX = 320)
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def live(args) -> None:
    from zizi.mirror.live import Reflector

    frame = _camera_jpeg()
    for align in ("face", "center"):
        r = Reflector(args.ckpt, args.shifted, args.encoder, torch.device("cpu"), align)
        for _ in range(5):
            r.reflect(frame)
        lat = []
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.frames):
            t = time.perf_counter()
            out = r.reflect(frame)
            lat.append(time.perf_counter() - t)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        lat.sort()
        # CPU ms per reflection: what one free core would take (the wall figures include
        # waiting for the shared cores)
        print(
            f"| reflector alone, align {align} ({out.framed}) | {args.frames / total:.1f} | "
            f"{1000 * statistics.mean(lat):.1f} | {1000 * lat[int(0.95 * len(lat))]:.1f} | "
            f"{1000 * cpu / args.frames:.1f} |"
        )
    asyncio.run(_server(args, frame))


async def _server(args, frame: bytes) -> None:
    import aiohttp

    from zizi.mirror.live import Reflector
    from zizi.mirror.serve import ServeConfig, make_app, serve

    r = Reflector(args.ckpt, args.shifted, args.encoder, torch.device("cpu"), "face")
    cfg = ServeConfig(port=0)
    app = make_app(r.reflect, "<html></html>", {}, cfg)
    urls: list[str] = []
    task = asyncio.create_task(serve(app, cfg, None, urls.append))
    while not urls:
        await asyncio.sleep(0.05)
    url = urls[0]

    async def visitor(session, stop: float, lat: list[float]) -> None:
        ws = await session.ws_connect(url.replace("http", "ws") + "ws")
        await ws.receive()  # hello
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await ws.send_bytes(frame)
            while (await ws.receive()).type != aiohttp.WSMsgType.BINARY:
                pass
            lat.append(time.perf_counter() - t)
        await ws.close()

    async with aiohttp.ClientSession() as s:
        for n in (1, 2, 4):
            lat: list[float] = []
            t0 = time.perf_counter()
            stop = t0 + args.seconds
            await asyncio.gather(*(visitor(s, stop, lat) for _ in range(n)))
            total = time.perf_counter() - t0
            async with s.get(url + "health") as h:
                health = json.loads(await h.text())
            lat.sort()
            print(
                f"| server, {n} visitor(s), round trip | {len(lat) / total:.1f} | "
                f"{1000 * statistics.mean(lat):.1f} | {1000 * lat[int(0.95 * len(lat))]:.1f} | |"
                f"  # health: {health['fps']} fps, p95 {health['latency_ms']['p95']} ms"
            )
    task.cancel()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--ckpt", type=Path, required=True)
    c.add_argument("--encoder", type=Path, required=True)
    c.add_argument("--portraits", type=int, default=4)
    c.add_argument("--short", type=int, default=50)
    c.add_argument("--long", type=int, default=200)
    c.add_argument("--full", type=int, default=500)
    c.add_argument("--encoder-only", action="store_true", help="skip the projections alone")
    lv = sub.add_parser("live")
    lv.add_argument("--ckpt", type=Path, required=True)
    lv.add_argument("--shifted", type=Path, required=True)
    lv.add_argument("--encoder", type=Path, required=True)
    lv.add_argument("--frames", type=int, default=100)
    lv.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.what == "compare":
        compare(args)
    else:
        print("| path | reflections/s | mean latency ms | p95 latency ms | CPU ms / reflection |")
        print("|---|---:|---:|---:|---:|")
        live(args)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
