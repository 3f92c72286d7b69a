"""TrainConfig: everything a training run needs besides the networks and the data.

The architecture is never here: it always comes from the checkpoint being resumed (or the
`--net` preset when training from scratch), so a config can't silently change it.
Values are resolved defaults < `--config` files < `--set key=value` < command-line flags.
"""

from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zizi.config import from_dict, merge_dicts, parse_assignment, read_yaml, to_dict
from zizi.errors import ConfigError


@dataclass(frozen=True)
class LossConfig:
    r1_gamma: float = (
        10.0  # R1 weight γ; config-f FFHQ-1024 used 10, smaller nets want less (≈ res²)
    )
    r1_interval: int = (
        16  # lazy R1 every 16 minibatches: same result, ~⅓ cheaper (StyleGAN2 App. B)
    )
    pl_weight: float = 2.0  # path-length regulariser weight (StyleGAN2 §3.2); 0 turns it off
    pl_decay: float = 0.01  # EMA decay of the running path-length mean `a`
    pl_batch_shrink: int = 2  # path length on half the batch: enough signal, half the cost
    pl_interval: int = 4  # lazy path-length regularisation every 4 minibatches
    style_mixing_prob: float = 0.9  # mix two ws at a random cutoff 90% of the time (StyleGAN §3.1)


@dataclass(frozen=True)
class OptimConfig:
    g_lr: float = 0.002  # Adam learning rate of G (config-f)
    d_lr: float = 0.002  # Adam learning rate of D (config-f)
    beta1: float = 0.0  # no first-moment momentum: GANs oscillate less (ProGAN/StyleGAN)
    beta2: float = 0.99  # second-moment decay of the reference setup
    eps: float = 1e-8  # Adam epsilon of the reference setup


@dataclass(frozen=True)
class EmaConfig:
    kimg: float = 10.0  # G_ema half-life in thousands of images (config-f: 10)
    rampup: float | None = None  # cap the half-life at rampup × images seen; None keeps the base
    #                               G_ema from the first step (transfer learning starts from it)


@dataclass(frozen=True)
class AugmentConfig:
    mode: Literal["ada", "fixed", "off"] = "off"  # ADA adapts p to D's overfitting; off for tests
    p: float = 0.0  # starting (ada) or constant (fixed) augmentation probability
    target: float = 0.6  # ADA's overfitting target r_t = E[sign(D(real))] (ADA §3)
    adjust_kimg: float = 500.0  # p can move 0→1 within this many kimg (ADA §3)
    interval: int = 4  # adjust p every 4 minibatches
    preset: str = "bgc"  # blit + geometric + colour: ADA's choice for faces


@dataclass(frozen=True)
class FreezeConfig:
    d_layers: int = 0  # FreezeD: freeze D's first N layers from the image side (0 = none)
    mapping: bool = False  # freeze G's mapping network (keeps the base's latent space)
    g_below_res: int = 0  # freeze G's synthesis blocks below this resolution (0 = none)


@dataclass(frozen=True)
class DataConfig:
    xflip: bool = True  # mirror faces: doubles a small dataset for free (faces are ~symmetric)
    max_size: int | None = None  # train on a seeded random subset of this many images
    workers: int = 2  # DataLoader worker processes decoding images (0 = in the main process)


@dataclass(frozen=True)
class WatchConfig:
    """Thresholds of the warnings printed while training (zizi.train.watch)."""

    ada_p: float = 0.6  # warn when ADA's p reaches this (it leaks into G's images near 0.8)
    score_gap: float = 4.0  # warn when mean D(real) − D(fake) logits exceeds this
    diversity: float = 0.5  # warn when grid diversity falls below this fraction of the base's
    swd_num: int = 0  # SWD to the data at each frame from this many images; 0 = off (costly)
    swd_rise: float = 0.2  # warn when that SWD is this fraction above its best frame


@dataclass(frozen=True)
class SpeedConfig:
    """Options that change speed, never results (to float rounding); off until measured."""

    channels_last: bool = False  # NHWC weights and activations: tensor cores' layout on a GPU


@dataclass(frozen=True)
class TrainConfig:
    kimg: float = 500.0  # run length in thousands of real images shown to D (fractional ok)
    batch: int = 32  # global minibatch (split over GPUs); config-f used 32
    batch_gpu: int | None = None  # images per forward pass; smaller = less memory, same global
    #                               batch (gradients accumulate); None = a process's whole share
    snap_kimg: float = 20.0  # full snapshot (G, G_ema, D, optimisers, RNG) every this many kimg
    frame_kimg: float = 1.0  # light G_ema frame for the weight-shift video (frequent: cheap)
    tick_kimg: float = 1.0  # one line in log.txt / stats.jsonl every this many kimg
    keep_snapshots: int = 5  # keep the newest N full snapshots (each is G+D+Adam: ~4x a net)
    sample_seeds: int = 16  # sample grids show seeds 0..N-1, the same faces every time
    seed: int = 0  # seeds the data order, latents, noise and augmentations
    name: str | None = None  # run folder suffix; None = the data folder's name
    on_nan: Literal["stop", "rollback"] = (
        "stop"  # NaN/Inf in losses: stop, or reload the last snapshot
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # the top num_fp16_res blocks'
    #     dtype: auto = fp16 on CUDA (as NVIDIA trains), fp32 on CPU; bf16 for A100/H100
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    def __post_init__(self) -> None:
        _check(self)


def _check_kinds(obj: Any, prefix: str = "") -> None:
    """Every number field holds a number of its kind, every flag a boolean: a value of the
    wrong kind is a ConfigError here, not a TypeError from deep inside Adam or a comparison
    below. (Numbers typed as text, `1e-7` that YAML 1.1 reads as a string, are already
    numbers here: `zizi.config.from_dict` reads them.)"""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_kinds(value, key + ".")
            continue
        kinds = set(typing.get_args(hints[f.name])) or {hints[f.name]}
        if value is None and type(None) in kinds:
            continue
        if float in kinds:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"{key} must be a number, got {value!r}")
        elif int in kinds and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        elif bool in kinds and not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")


# Upper bounds a value gets wherever it comes from (a flag, --set, --config, or the
# config.yaml of a run someone sent): each is far beyond any real run, and each stops a
# crafted value from taking the machine (200 loader processes, a 2e8-image batch).
MAX_KIMG = 1_000_000.0  # 10^9 images; StyleGAN2's FFHQ config-f trained for 25,000 kimg
MAX_BATCH = 4096  # StyleGAN2 used 32; ADA's largest preset 64
MAX_SAMPLE_SEEDS = 1024  # a 32×32 sample grid
MAX_WORKERS = 64  # DataLoader processes
MAX_KEEP_SNAPSHOTS = 10_000
MAX_INTERVAL = 1_000_000  # minibatches between lazy regularisation / ADA steps


def _finite_numbers(obj: Any, where: str = "") -> None:
    """NaN or infinity in any float field is an error (a NaN learning rate trains nothing)."""
    import math

    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        name = f"{where}{f.name}"
        if dataclasses.is_dataclass(v):
            _finite_numbers(v, name + ".")
        elif isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v}")


def _at_most(name: str, value: float, bound: float) -> None:
    if value > bound:
        raise ConfigError(f"{name} is {value:g}; the most zizi accepts is {bound:g}")


def _check(cfg: TrainConfig) -> None:
    _check_kinds(cfg)
    _finite_numbers(cfg)
    _at_most("kimg", cfg.kimg, MAX_KIMG)
    for name in ("snap_kimg", "frame_kimg", "tick_kimg"):
        _at_most(name, getattr(cfg, name), MAX_KIMG)
    _at_most("batch", cfg.batch, MAX_BATCH)
    _at_most("batch_gpu", cfg.batch_gpu or 1, MAX_BATCH)
    _at_most("sample_seeds", cfg.sample_seeds, MAX_SAMPLE_SEEDS)
    _at_most("data.workers", cfg.data.workers, MAX_WORKERS)
    _at_most("keep_snapshots", cfg.keep_snapshots, MAX_KEEP_SNAPSHOTS)
    for name in ("loss.r1_interval", "loss.pl_interval", "augment.interval"):
        sec, key = name.split(".")
        _at_most(name, getattr(getattr(cfg, sec), key), MAX_INTERVAL)
    if cfg.sample_seeds < 1:
        raise ConfigError(f"sample_seeds must be at least 1, got {cfg.sample_seeds}")
    if cfg.data.max_size is not None and cfg.data.max_size < 1:
        raise ConfigError(f"data.max_size must be at least 1 (or absent), got {cfg.data.max_size}")
    if not 0 <= cfg.seed < 2**63:
        raise ConfigError(f"seed must be between 0 and 2^63 - 1, got {cfg.seed}")
    if not cfg.ema.kimg > 0 or (cfg.ema.rampup is not None and not cfg.ema.rampup > 0):
        raise ConfigError("ema.kimg (and ema.rampup when given) must be more than 0")
    for name in ("g_lr", "d_lr", "eps"):
        if not 0 < getattr(cfg.optim, name) <= 1:
            raise ConfigError(
                f"optim.{name} must be more than 0 and at most 1, got {getattr(cfg.optim, name)}"
            )
    if not (0 <= cfg.optim.beta1 < 1 and 0 <= cfg.optim.beta2 < 1):
        raise ConfigError("optim.beta1 and optim.beta2 must be in [0, 1)")
    if cfg.loss.r1_gamma < 0 or cfg.loss.pl_weight < 0 or not 0 <= cfg.loss.pl_decay <= 1:
        raise ConfigError(
            "loss.r1_gamma and loss.pl_weight must be 0 or more, loss.pl_decay in [0, 1]"
        )
    if not 0 <= cfg.augment.p <= 1:
        raise ConfigError(f"augment.p must be between 0 and 1, got {cfg.augment.p}")
    if not cfg.augment.adjust_kimg > 0 or cfg.augment.interval < 1:
        raise ConfigError("augment.adjust_kimg must be more than 0, augment.interval at least 1")
    if min(cfg.freeze.d_layers, cfg.freeze.g_below_res) < 0:
        raise ConfigError("freeze.d_layers and freeze.g_below_res must be 0 or more")
    if not cfg.kimg > 0:
        raise ConfigError(f"kimg must be more than 0, got {cfg.kimg}")
    if cfg.batch < 1:
        raise ConfigError(f"batch must be at least 1, got {cfg.batch}")
    for name in ("snap_kimg", "frame_kimg", "tick_kimg"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"{name} must be more than 0, got {getattr(cfg, name)}")
    if cfg.batch_gpu is not None and cfg.batch_gpu < 1:
        raise ConfigError(f"batch_gpu must be at least 1, got {cfg.batch_gpu}")
    if cfg.keep_snapshots < 1:
        raise ConfigError("keep_snapshots must be at least 1")
    if cfg.loss.r1_interval < 1 or cfg.loss.pl_interval < 1:
        raise ConfigError("loss.r1_interval and loss.pl_interval must be at least 1")
    if cfg.loss.pl_batch_shrink < 1:
        raise ConfigError("loss.pl_batch_shrink must be at least 1")
    if not 0 <= cfg.loss.style_mixing_prob <= 1:
        raise ConfigError("loss.style_mixing_prob must be between 0 and 1")
    if cfg.augment.mode not in ("ada", "fixed", "off"):
        raise ConfigError(f"augment.mode must be ada, fixed or off, got {cfg.augment.mode!r}")
    if cfg.on_nan not in ("stop", "rollback"):
        raise ConfigError(f"on_nan must be stop or rollback, got {cfg.on_nan!r}")
    if cfg.precision not in ("auto", "fp32", "fp16", "bf16"):
        raise ConfigError(f"precision must be auto, fp32, fp16 or bf16, got {cfg.precision!r}")
    if cfg.data.workers < 0:
        raise ConfigError("data.workers must be 0 or more")
    if cfg.watch.swd_num < 0 or cfg.watch.swd_num == 1:
        raise ConfigError("watch.swd_num must be 0 (off) or at least 2 images")


AUTO = "auto"  # `--config auto`: StyleGAN2-ADA's `--cfg auto` values (auto_values)


def auto_values(resolution: int, gpus: int, fine_tune: bool) -> dict[str, Any]:
    """What StyleGAN2-ADA's `train.py --cfg auto` (its default) sets, from the resolution
    and the GPU count, with its launch defaults: ADA on, no x-flips, and for a fine-tune
    (`--resume`) ADA's faster reaction (100 kimg) and no EMA ramp-up. Its mapping depth (2)
    and minibatch-stddev group (min(batch/gpus, 4)) are architecture, which in zizi always
    comes from the checkpoint; its run length (25000 kimg) is a from-scratch length."""
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)  # bounds GPU memory
    lr = 0.002 if resolution >= 1024 else 0.0025
    return {
        "batch": batch,
        "batch_gpu": batch // gpus,
        "loss": {"r1_gamma": 0.0002 * resolution**2 / batch},  # S2A's heuristic
        "ema": {"kimg": batch * 10 / 32, "rampup": None if fine_tune else 0.05},
        "optim": {"g_lr": lr, "d_lr": lr},
        "augment": {"mode": "ada", "adjust_kimg": 100.0 if fine_tune else 500.0},
        "data": {"xflip": False},
    }


def describe_auto(values: dict[str, Any], resolution: int, gpus: int) -> str:
    """One line naming what `--config auto` resolved to, as S2A prints its config."""
    flat = []
    for key, value in values.items():
        for k, v in value.items() if isinstance(value, dict) else [("", value)]:
            name = f"{key}.{k}" if k else key
            flat.append(f"{name}={v:.6g}" if isinstance(v, float) else f"{name}={v}")
    return f"--config auto ({resolution}², {gpus} GPU{'s' if gpus > 1 else ''}): " + ", ".join(flat)


def resolve_config(
    base: dict[str, Any] | None = None,  # a resumed run's config.yaml; None = the defaults
    config_files: list[str | Path] = (),  # --config files (or "auto"), later ones win
    assignments: list[str] = (),  # --set key=value, later ones win
    flags: dict[str, Any] | None = None,  # command-line flags that were given (not None)
    auto: dict[str, Any] | None = None,  # what "auto" in config_files stands for
) -> TrainConfig:
    """The run config: defaults < base < --config files < --set < flags."""
    data: dict[str, Any] = dict(base or {})
    for path in config_files:
        if str(path) == AUTO:
            if auto is None:  # the caller knows no resolution yet: resolved again later
                continue
            data = merge_dicts(data, auto)
            continue
        data = merge_dicts(data, read_yaml(path))
    for text in assignments:
        data = merge_dicts(data, parse_assignment(text))
    data = merge_dicts(data, {k: v for k, v in (flags or {}).items() if v is not None})
    return from_dict(TrainConfig, data, "train config")


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return to_dict(cfg)


def replace(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    return dataclasses.replace(cfg, **changes)
