"""Tiny networks, checkpoints, images and training settings: the one place tests get them.

Every test that needs a StyleGAN2 asks `tiny_nets` for its configs, so "a tiny network"
means one thing across the suite (8–32 px, at most 32 channels: the whole suite runs on a
laptop CPU). `WIDE` is the slightly wider preset the render and mirror tests were measured
with (their thresholds, e.g. the projection PSNRs, depend on it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.io.checkpoint import Checkpoint, save_checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NVLABS_FIXTURES = ("sg2ada-tiny", "sg3-stylegan2-tiny")

# z/w 16 wide and 32 channels at 4²–8²: what `tiny_checkpoint` builds.
WIDE = {"z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 32}

# Every trainer test sets these: tiny, in-process data, regularisers every 2 steps so a
# handful of steps runs every phase.
TINY_SETTINGS = [
    "batch=4",
    "kimg=1",
    "snap_kimg=1",
    "frame_kimg=0.008",
    "tick_kimg=0.008",
    "sample_seeds=4",
    "data.workers=0",
    "data.xflip=false",
    "loss.r1_gamma=1",
    "loss.r1_interval=2",
    "loss.pl_interval=2",
]
# The same settings as `zizi train` flags.
TINY_SET_FLAGS = tuple(a for s in TINY_SETTINGS for a in ("--set", s))


def tiny_nets(
    res: int = 16,
    *,
    c_dim: int = 0,
    z_dim: int = 8,
    w_dim: int = 8,
    channel_base: int = 128,
    channel_max: int = 16,
    **g_kw,
) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """Generator and discriminator configs of a tiny network (two mapping layers; D's label
    mapping, when `c_dim` > 0, two layers too). `g_kw` sets other G fields.
    A 4² generator has no discriminator (D needs 8² or more): D is None there."""
    g = GeneratorConfig(
        z_dim=z_dim,
        w_dim=w_dim,
        c_dim=c_dim,
        img_resolution=res,
        channel_base=channel_base,
        channel_max=channel_max,
        mapping=g_kw.pop("mapping", MappingConfig(num_layers=2)),
        **g_kw,
    )
    if res < 8:
        return g, None  # type: ignore[return-value]
    # D's label mapping stays the default where there are no labels (importers assume it)
    label_mapping = {"mapping": MappingConfig(num_layers=2, w_avg_beta=None)} if c_dim else {}
    d = DiscriminatorConfig(
        c_dim=c_dim,
        img_resolution=res,
        channel_base=channel_base,
        channel_max=channel_max,
        **label_mapping,
    )
    return g, d


def tiny_modules(res: int = 16, **kw) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A freshly initialised Generator and Discriminator of `tiny_nets(res, **kw)`."""
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    g_cfg, d_cfg = tiny_nets(res, **kw)
    return Generator(g_cfg), Discriminator(d_cfg)


def randomized(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The net's state dict with every entry replaced by random values of its shape."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        scale = 1.0 if k.endswith(("weight", "const", "noise_const")) else 0.3
        out[k] = torch.randn(v.shape, generator=gen) * scale
    return out


def tiny_checkpoint(res: int = 16, seed: int = 0) -> Checkpoint:
    """A `WIDE` checkpoint with random values (G_ema, G and D differ): images that vary a
    lot with the latent, for render and mirror tests."""
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    g_cfg, d_cfg = tiny_nets(res, **WIDE)
    g = Generator(g_cfg)
    d = Discriminator(d_cfg)
    return Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors={
            "G_ema": randomized(g, seed),
            "G": randomized(g, seed + 1),
            "D": randomized(d, seed + 2),
        },
        provenance={"importer": "test"},
    )


def make_checkpoint(
    path: Path,
    g_cfg: GeneratorConfig | None = None,
    d_cfg: DiscriminatorConfig | None = None,
    seed: int = 0,
    with_d: bool = True,
) -> Path:
    """A freshly initialised checkpoint (G_ema a copy of G) at `path`: a base to train from."""
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    if g_cfg is None:
        g_cfg, d_cfg = tiny_nets()
    torch.manual_seed(seed)
    G, D = Generator(g_cfg), Discriminator(d_cfg)
    tensors = {"G": G.state_dict(), "G_ema": {k: v.clone() for k, v in G.state_dict().items()}}
    if with_d:
        tensors["D"] = D.state_dict()
    save_checkpoint(
        path,
        Checkpoint(
            g_config=g_cfg,
            d_config=d_cfg if with_d else None,
            tensors=tensors,
            provenance={"importer": "test"},
        ),
    )
    return path


def make_images(folder: Path, n: int = 8, res: int = 16, seed: int = 0) -> Path:
    """`n` PNGs of smooth coloured blobs, not noise: something a GAN could learn."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:res, 0:res]
    for i in range(n):
        cx, cy = rs.uniform(0, res, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (res / 3) ** 2)
        img = blob[..., None] * rs.uniform(0, 255, 3)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    return folder


RUN_RES = 16  # the side of make_run's networks (what render tests draw)


def make_run(root: Path, kimgs=(0, 40, 100), res: int = RUN_RES, seed: int = 0) -> Path:
    """ROOT/00001-tiny/ with frames/frame-<nimg>.safetensors (`WIDE` G_ema-only checkpoints,
    random values per frame) and a config.yaml: a training run as render reads it."""
    from zizi.nets.generator import Generator

    run = root / "00001-tiny"
    (run / "frames").mkdir(parents=True)
    g_cfg, _ = tiny_nets(res, **WIDE)
    net = Generator(g_cfg)
    for k, kimg in enumerate(kimgs):
        nimg = int(kimg * 1000)
        ck = Checkpoint(
            g_config=g_cfg,
            d_config=None,
            tensors={"G_ema": randomized(net, seed + 10 * k)},
            extra={"nimg": nimg, "kimg": float(kimg)},
        )
        save_checkpoint(run / "frames" / f"frame-{nimg:012d}.safetensors", ck)
    (run / "config.yaml").write_text("run: tiny\n")
    return run
