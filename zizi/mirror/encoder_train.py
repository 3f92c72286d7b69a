"""Training an encoder on its generator's own samples (self-supervised: no face dataset).

Each step draws z, maps it to w (some samples style-mixed, so that the encoder learns W+ and
not only W), draws the image with the frozen G, and asks the encoder for the latent back. Two
losses: the latent regression (in units of w's spread) and the reconstruction through the
frozen G, measured with mirror's own distances (`zizi.mirror.losses`: D features + pixel +
MS-SSIM, or LPIPS when local VGG16 weights are given), so that the encoder learns what the
projection optimises.

The run folder beside the encoder (`ENC-run/`, owned by this module):

    state.safetensors    encoder + Adam moments + the sampler's RNG + nimg: an exact resume
    log.txt, stats.jsonl one line / JSON object per tick
    samples/kimgNNNNNN.NNN.png   fixed samples (top) and their reconstructions (bottom)

The encoder file itself is rewritten at every snapshot, so a stopped run leaves a usable one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from zizi.errors import ZiziError
from zizi.mirror.encoder import Encoder, EncoderArch, encoder_bytes

STATE = "state.safetensors"
SAMPLE_SEEDS = 8


@dataclass(frozen=True)
class EncoderTrainConfig:
    kimg: float = 20.0  # training length in thousands of generated images (the budget)
    batch: int = 16  # images per step
    lr: float = 2e-3  # Adam; the head starts at zero, so a brisk rate is safe
    w_weight: float = 1.0  # latent regression, in units of w's spread squared
    recon_weight: float = 1.0  # reconstruction through G under mirror's distance
    mixing_prob: float = 0.3  # share of style-mixed samples (targets off W, inside W+)
    seed: int = 0  # seeds the z sampler: the same seed gives the same encoder
    tick_kimg: float = 0.5  # log a line this often
    snap_kimg: float = 5.0  # rewrite the encoder and the resume state this often


def run_dir(out: str | Path) -> Path:
    """The run folder of an encoder file: `enc.safetensors` -> `enc-run/`."""
    out = Path(out)
    return out.with_name(out.stem + "-run")


class EncoderTrainer:
    """The encoder, its optimiser and the sampler; `step()` trains on one batch."""

    def __init__(
        self,
        G,
        distance: Callable[[torch.Tensor], Callable],
        arch: EncoderArch,
        cfg: EncoderTrainConfig,
        device: torch.device,
    ) -> None:
        from zizi.mirror.project import w_stats

        self.G = G.requires_grad_(False).eval()
        self.distance = distance  # target images -> loss(images) -> [N]
        self.cfg = cfg
        self.device = device
        w_avg, self.w_std = w_stats(G, 10000, cfg.seed)
        with torch.random.fork_rng(devices=[]):  # the initial weights follow the seed too
            torch.manual_seed(cfg.seed)
            self.enc = Encoder(arch, w_avg[0].cpu()).to(device)
        self.opt = torch.optim.Adam(self.enc.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.nimg = 0

    @property
    def kimg(self) -> float:
        return self.nimg / 1000

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(ws [n, num_ws, w_dim], images [n, 3, R, R]) from the frozen G."""
        G = self.G
        z = torch.randn(n, G.z_dim, generator=gen).to(self.device)
        z2 = torch.randn(n, G.z_dim, generator=gen).to(self.device)
        cut = (
            torch.randint(1, G.num_ws, (n,), generator=gen)
            if G.num_ws > 1
            else torch.ones(n, dtype=torch.long)
        )
        mix = torch.rand(n, generator=gen) < self.cfg.mixing_prob
        with torch.no_grad():
            ws = G.mapping(z, None)  # [n, num_ws, w_dim]
            ws2 = G.mapping(z2, None)
            layer = torch.arange(G.num_ws)[None, :]
            take2 = (mix[:, None] & (layer >= cut[:, None])).to(self.device)  # [n, num_ws]
            ws = torch.where(take2[..., None], ws2, ws)
            img = G.synthesis(ws, noise_mode="const", force_fp32=True)
        return ws, img

    def step(self) -> dict[str, float]:
        ws, img = self.sample(self.cfg.batch, self.gen)
        pred = self.enc(img)
        w_loss = (pred - ws).square().sum(-1).mean() / (self.w_std**2)
        recon = self.G.synthesis(pred, noise_mode="const", force_fp32=True)
        r_loss = self.distance(img)(recon).mean()
        loss = self.cfg.w_weight * w_loss + self.cfg.recon_weight * r_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.nimg += self.cfg.batch
        return {"loss/w": float(w_loss.detach()), "loss/recon": float(r_loss.detach())}

    def finite(self) -> bool:
        return all(torch.isfinite(p).all() for p in self.enc.parameters())

    # -- resume state -------------------------------------------------------------------
    def state_bytes(self, info: dict[str, Any]) -> bytes:
        """Everything an exact resume needs, as one safetensors file."""
        from safetensors.torch import save

        tensors = {
            f"net.{k}": v.detach().cpu().contiguous() for k, v in self.enc.state_dict().items()
        }
        opt = self.opt.state_dict()
        for idx, st in opt["state"].items():
            for key, v in st.items():
                tensors[f"opt.{idx}.{key}"] = torch.as_tensor(v).detach().cpu().contiguous()
        tensors["rng"] = self.gen.get_state()
        meta = {
            "nimg": self.nimg,
            "param_groups": opt["param_groups"],
            "config": asdict(self.cfg),
            "arch": asdict(self.enc.arch),
            **info,
        }
        return save(tensors, metadata={"zizi_encoder_state": json.dumps(meta, sort_keys=True)})

    def load_state(self, path: Path) -> dict[str, Any]:
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["zizi_encoder_state"])
            tensors = load_file(str(path))
        except Exception as e:
            raise ZiziError(
                f"{path} is not a readable encoder training state "
                f"({type(e).__name__}); start again with --force"
            ) from None
        if meta["arch"] != asdict(self.enc.arch):
            raise ZiziError(
                f"{path} was trained with encoder {meta['arch']}, this run builds "
                f"{asdict(self.enc.arch)}; start again with --force"
            )
        self.enc.load_state_dict(
            {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
        )
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, key = k.split(".", 2)
                state.setdefault(int(idx), {})[key] = v.to(self.device) if key != "step" else v
        self.opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.gen.set_state(tensors["rng"])
        self.nimg = int(meta["nimg"])
        return meta

    def sample_grid(self):
        """Fixed samples (top row) over the encoder's reconstructions (bottom row), uint8."""
        import numpy as np

        from zizi.render.images import make_grid, to_uint8

        _, img = self.sample(SAMPLE_SEEDS, torch.Generator().manual_seed(12345))
        with torch.no_grad():
            recon = self.G.synthesis(self.enc(img), noise_mode="const", force_fp32=True)
        grid = make_grid(to_uint8(torch.cat([img, recon])), cols=SAMPLE_SEEDS)
        return np.ascontiguousarray(grid)


def train_encoder(
    trainer: EncoderTrainer,
    out: Path,
    info: dict[str, Any],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    max_steps: int | None = None,
) -> str:
    """Train until the kimg budget (or a stop request: then snapshot and return "stopped")."""
    from zizi.files import write_bytes, write_png, write_text

    cfg = trainer.cfg
    folder = run_dir(out)
    end = int(round(cfg.kimg * 1000))
    log_path, stats_path = folder / "log.txt", folder / "stats.jsonl"
    log = log_path.read_text() if log_path.is_file() else ""
    stats = stats_path.read_text() if stats_path.is_file() else ""

    def every(n: int, kimg: float) -> int:
        step = max(int(round(kimg * 1000)), 1)
        return (n // step + 1) * step

    def snapshot() -> None:
        if not trainer.finite():
            raise ZiziError(
                f"encoder training diverged at kimg {trainer.kimg:.3f} (weights became "
                f"NaN/Inf); {out} holds the last good encoder; lower --lr and resume"
            )
        meta = {**info, "kimg": trainer.kimg, "train": asdict(cfg)}
        write_bytes(folder / STATE, trainer.state_bytes(info))
        write_bytes(out, encoder_bytes(trainer.enc, meta))
        write_png(folder / "samples" / f"kimg{trainer.kimg:010.3f}.png", trainer.sample_grid())

    next_tick, next_snap = every(trainer.nimg, cfg.tick_kimg), every(trainer.nimg, cfg.snap_kimg)
    sums: dict[str, float] = {}
    count, steps, t0, n0 = 0, 0, time.perf_counter(), trainer.nimg
    status = "done"
    if trainer.nimg == 0:
        snapshot()  # kimg 0: the untrained encoder (the mean face), a baseline to look at
    while trainer.nimg < end:
        if should_stop() or (max_steps is not None and steps >= max_steps):
            status = "stopped"
            break
        for k, v in trainer.step().items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        steps += 1
        if progress is not None:
            progress({"nimg": trainer.nimg, "end_nimg": end})
        if trainer.nimg >= next_tick or trainer.nimg >= end:
            dt = time.perf_counter() - t0
            entry = {
                "kimg": trainer.kimg,
                "nimg": trainer.nimg,
                **{k: v / count for k, v in sums.items()},
                "sec_per_kimg": dt / max((trainer.nimg - n0) / 1000, 1e-9),
                "time": time.time(),
            }
            if not all(math.isfinite(v) for k, v in entry.items() if k.startswith("loss/")):
                raise ZiziError(
                    f"encoder training diverged at kimg {trainer.kimg:.3f}; {out} "
                    "holds the last good encoder; lower --lr and resume"
                )
            stats += json.dumps(entry) + "\n"
            log += (
                f"kimg {entry['kimg']:.3f}  w {entry['loss/w']:.4f}  recon "
                f"{entry['loss/recon']:.4f}  sec/kimg {entry['sec_per_kimg']:.2f}\n"
            )
            write_text(stats_path, stats)
            write_text(log_path, log)
            if progress is not None:
                progress({"nimg": trainer.nimg, "end_nimg": end, "tick": entry})
            sums, count, t0, n0 = {}, 0, time.perf_counter(), trainer.nimg
            next_tick = every(trainer.nimg, cfg.tick_kimg)
        if trainer.nimg >= next_snap and trainer.nimg < end:
            snapshot()
            next_snap = every(trainer.nimg, cfg.snap_kimg)
    if steps > 0:
        snapshot()
    return status


def distance_factory(ckpt: Path, perceptual: list[Path], device) -> tuple[Callable, str]:
    """(targets -> loss(images) -> [N], its name): mirror's distance, rebuilt per batch of
    targets (LPIPS on local VGG16 files, else the generator's own D + pixel + MS-SSIM)."""
    from zizi.io.checkpoint import build_discriminator, load_checkpoint, read_header
    from zizi.mirror import losses

    if perceptual:
        net, lins = losses.load_perceptual(perceptual)
        net = net.to(device)
        kind = "lpips-vgg16" + ("" if lins is not None else " (uniform layer weights)")
        return (lambda t: losses.VGGDistance(net, lins, t).to(device)), kind
    if "D" in read_header(ckpt).get("nets", {}):
        D = build_discriminator(load_checkpoint(ckpt, nets=["D"])).to(device).requires_grad_(False)
        return (lambda t: losses.OwnDistance(D, t)), "own: discriminator features + pixel + ms-ssim"
    w = losses.OwnWeights(disc=0.0)
    return (lambda t: losses.OwnDistance(None, t, w)), "own: pixel + ms-ssim (no discriminator)"


def prepare(
    ckpt: str | Path,
    out: str | Path,
    cfg: EncoderTrainConfig,
    device: torch.device,
    *,
    perceptual: list[Path] | None = None,
    resume: bool = False,
    force: bool = False,
) -> tuple[EncoderTrainer, dict[str, Any]]:
    """Build the trainer for `ckpt`'s G_ema and decide between a fresh start and a resume.

    A fresh start refuses to overwrite an encoder or a run folder unless `force`; a resume
    needs the run folder's state and continues it exactly (same batches, same moments).
    """
    import shutil

    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.mirror.encoder import generator_identity, preset

    ckpt, out = Path(ckpt), Path(out)
    if ckpt.is_dir() or not ckpt.exists():
        raise ZiziError(f"{ckpt} is not a checkpoint file; give the generator's .safetensors")
    if out.suffix != ".safetensors":
        raise ZiziError(f"--out {out} must end in .safetensors")
    folder = run_dir(out)
    state = folder / STATE
    if resume and not state.is_file():
        raise ZiziError(f"nothing to resume: {state} does not exist; drop --resume to start")
    if not resume and (out.exists() or folder.exists()):
        if not force:
            what = folder if folder.exists() else out
            raise ZiziError(
                f"{what} already exists; pass --resume to continue its training "
                "or --force to start again"
            )
        shutil.rmtree(folder, ignore_errors=True)
    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema").to(device)
    if G.c_dim > 0 or G.img_channels != 3:
        raise ZiziError("the encoder needs an unconditional RGB generator")
    distance, loss_kind = distance_factory(ckpt, list(perceptual or []), device)
    arch = preset(G.img_resolution, G.num_ws, G.w_dim)
    trainer = EncoderTrainer(G, distance, arch, cfg, device)
    from zizi import __version__

    info = {
        "generator": generator_identity(G, ckpt),
        "loss": loss_kind,
        "made_by": f"zizi {__version__} encoder train",
        "seed": cfg.seed,
    }
    if resume:
        meta = trainer.load_state(state)
        if meta.get("generator", {}).get("sha256") != info["generator"]["sha256"]:
            raise ZiziError(
                f"{state} belongs to an encoder of another generator "
                f"({meta.get('generator', {}).get('file')}); give that checkpoint"
            )
        old = dict(meta["config"])
        for key in ("kimg", "tick_kimg", "snap_kimg"):  # the budget may grow; nothing else may
            old.pop(key)
        new = {k: v for k, v in asdict(cfg).items() if k not in ("kimg", "tick_kimg", "snap_kimg")}
        if old != new:
            diff = next(k for k in new if old.get(k) != new[k])
            raise ZiziError(
                f"--resume: {diff} was {old.get(diff)} in this run, now {new[diff]}; "
                "a resume continues the same training (only --kimg may change)"
            )
    return trainer, info
