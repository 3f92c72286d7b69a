"""From what a person typed to a ready training run: source, data, config, run folder.

`--resume` is a run folder (continue exactly), a zizi checkpoint, any file `zizi import`
reads, or a well-known name; `--net` is a network preset for training from scratch. The
architecture always comes from that source; a dataset that does not fit it is an error
that says what differs and what to run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zizi.config import DiscriminatorConfig, GeneratorConfig, load_yaml, to_dict
from zizi.errors import ConfigError, DatasetError
from zizi.io.checkpoint import Checkpoint
from zizi.io.runs import resolve_run
from zizi.train.config import AUTO, TrainConfig, auto_values, describe_auto, resolve_config
from zizi.train.distributed import Dist
from zizi.train.run import NotARunError, RunFolder, create_run_dir, find_resume_snapshot


@dataclass
class TrainJob:
    """The command line, as data."""

    out: Path | None  # RUNS folder (not needed to continue a run folder)
    data: Path | None = None  # image folder or zip (a resumed run folder remembers its own)
    resume: str | None = None  # run folder, checkpoint file or well-known name
    net: Path | None = None  # network preset YAML (training from scratch)
    config_files: list[Path] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)  # kimg, batch, snap_kimg, ... (given ones)
    checkpoints_dir: Path = Path("checkpoints")  # where well-known names are downloaded
    dist_timeout_s: float = 600.0  # a collective waiting longer for the others is an error


@dataclass
class Prepared:
    trainer: Any  # zizi.train.trainer.Trainer
    dataset: Any
    run: RunFolder | None
    run_path: Path | None
    notes: list[str]
    continued_from: Path | None = None


def prepare(job: TrainJob, device, dist: Dist = Dist()) -> Prepared:
    """Load the source and data, resolve the config and make (or reopen) the run folder."""
    from zizi.train.trainer import Trainer

    if (job.resume is None) == (job.net is None):
        raise ConfigError(
            "give exactly one of --resume (a checkpoint, name or run folder) and "
            "--net (a network preset, to train from scratch)"
        )
    notes: list[str] = []
    resume_path = Path(job.resume) if job.resume is not None else None
    if resume_path is not None and resume_path.is_dir():
        run_path = resolve_run(resume_path)  # `.`, an alias and the full path: one run
        snap, snap_path, notes = find_resume_snapshot(run_path)
        stored = _read_run_config(run_path)
        _check_architecture(stored.get("architecture"), snap, snap_path)
        cfg, note = _resolve(job, stored.get("train"), snap, dist, fine_tune=True)
        notes += note
        data = job.data or Path(stored.get("data", ""))
        dataset = open_dataset(data, snap, cfg)
        trainer = Trainer(snap, cfg, device, dist)
        trainer.restore(snap)
        changed = _precision_notes(trainer, (snap.train or {}).get("precision"))
        notes += changed
        change = _data_change(stored, Path(data), trainer.kimg)
        run = RunFolder(run_path) if dist.main else None
        if change is not None:
            notes.append(change["note"])
        if run is not None:
            for note in changed:
                run.log(f"note: {note}")
            run.trim_after(trainer.nimg)
            run.last_good = snap_path
            rewrite = bool(job.config_files or job.assignments or job.flags)
            if change is not None:  # the run says what it trained on from here (config, log)
                rewrite = True
                stored = dict(
                    stored,
                    data=change["to"],
                    data_fingerprint=change["fingerprint"],
                    data_changes=[
                        *stored.get("data_changes", []),
                        {k: v for k, v in change.items() if k != "note"},
                    ],
                )
            elif "data_fingerprint" not in stored:  # a run from before fingerprints: start one
                rewrite = True
                stored = dict(stored, data_fingerprint=data_fingerprint(Path(data)))
            if rewrite:
                run.write_config(dict(stored, train=to_dict(cfg)))
            run.log(f"continuing from {snap_path.name} at kimg {trainer.kimg:.3f}")
            if change is not None:
                run.log(change["note"])
        return Prepared(trainer, dataset, run, run_path, notes, continued_from=snap_path)

    cfg = resolve_config(None, job.config_files, job.assignments, job.flags)
    if job.data is None:
        raise ConfigError("--data is required (an image folder or zip)")
    if job.out is None:
        raise ConfigError("--out is required (the folder that holds the runs)")
    source = _load_source_once(job, cfg.seed, dist)
    cfg, note = _resolve(job, None, source, dist, fine_tune=job.resume is not None)
    notes += note
    dataset = open_dataset(job.data, source, cfg)
    trainer = Trainer(source, cfg, device, dist)
    notes += _precision_notes(trainer, None)
    run = run_path = None
    if dist.main:
        run_path = create_run_dir(job.out, cfg.name or _name_of(job.data))
        run = RunFolder(run_path)
        run.write_config(
            {
                "train": to_dict(cfg),
                "data": str(Path(job.data).resolve()),
                "data_fingerprint": data_fingerprint(Path(job.data)),
                "source": str(job.resume) if job.resume is not None else f"net:{job.net}",
                "provenance": source.provenance,
                "architecture": {"G": to_dict(source.g_config), "D": to_dict(source.d_config)},
                "images": len(dataset),
                "processes": dist.world,
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        flips = f" ({len(dataset) // 2} and their mirror images)" if cfg.data.xflip else ""
        run.log(
            f"run {run_path.name}: {len(dataset)} training images{flips} from {job.data}, "
            f"source {job.resume or job.net}"
        )
        summary = _dataset_summary(job.data)
        if summary:
            run.log(f"dataset: {summary}")
    notes += list(getattr(dataset, "warnings", []))
    if run is not None:
        for note in notes:
            if note.startswith("--config auto"):
                run.log(note)
    return Prepared(trainer, dataset, run, run_path, notes)


def _resolve(
    job: TrainJob, base: dict[str, Any] | None, source: Checkpoint, dist: Dist, fine_tune: bool
) -> tuple[TrainConfig, list[str]]:
    """The run config; `--config auto` is filled in from the network's resolution and the
    process count, and the values it chose come back as a note to print."""
    if AUTO not in [str(p) for p in job.config_files]:
        return resolve_config(base, job.config_files, job.assignments, job.flags), []
    res = source.g_config.img_resolution
    auto = auto_values(res, dist.world, fine_tune)
    cfg = resolve_config(base, job.config_files, job.assignments, job.flags, auto=auto)
    return cfg, [describe_auto(auto, res, dist.world)]


def _precision_notes(trainer, before: str | None) -> list[str]:
    """What a person should know about the run's precision: a change since the snapshot
    (harmless: weights, gradients and Adam state are float32 in every precision, only the
    top blocks' activations change dtype), or a reduced precision with nothing to reduce."""
    from zizi.nets.precision import reduced_blocks

    notes = []
    if before is not None and before != trainer.precision:
        notes.append(
            f"precision changes from {before} to {trainer.precision} at kimg "
            f"{trainer.kimg:.3f}; weights and optimiser state are float32 in both, so "
            "training continues from the same numbers"
        )
    asked = trainer.cfg.precision != "auto" and trainer.precision != "fp32"
    if asked and reduced_blocks(trainer.G) + reduced_blocks(trainer.D) == 0:
        notes.append(
            f"precision {trainer.precision} changes nothing: this network runs every "
            "block in float32 (num_fp16_res is 0)"
        )
    return notes


def data_fingerprint(data: Path) -> str:
    """A cheap fingerprint of a dataset's contents, to notice images changed under a run:
    a zip's member names, sizes and CRC-32s (from its directory, nothing inflated), or a
    folder's relative names, sizes and modification times. Hex sha256."""
    import hashlib
    import os
    import zipfile

    h = hashlib.sha256()
    data = Path(data)
    if data.is_file():
        try:
            with zipfile.ZipFile(data) as z:
                for i in sorted(z.infolist(), key=lambda i: i.filename):
                    h.update(f"{i.filename}\0{i.file_size}\0{i.CRC}\n".encode())
        except (zipfile.BadZipFile, OSError, ValueError):
            st = data.stat()
            h.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()
    for root, dirs, files in os.walk(data):
        dirs.sort()
        for name in sorted(files):
            p = Path(root, name)
            try:
                st = p.stat()
            except OSError:
                continue
            rel = p.relative_to(data).as_posix()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _data_change(stored: dict[str, Any], data: Path, kimg: float) -> dict[str, Any] | None:
    """What changed about the data a resumed run trains on (None: nothing): another
    folder than config.yaml names, or the same folder with other images."""
    before = stored.get("data")
    now = str(data.resolve())
    fingerprint = data_fingerprint(data)
    if before is not None and str(before) != now:
        note = (
            f"the training data changed at kimg {kimg:.3f}: from {before} to {now}; "
            "config.yaml, log.txt and renders' provenance now name the new data"
        )
    elif stored.get("data_fingerprint") not in (None, fingerprint):
        note = (
            f"the images in {now} changed since this run last trained on them (kimg "
            f"{kimg:.3f}: files added, removed or modified); recorded in config.yaml and "
            "log.txt"
        )
    else:
        return None
    return {
        "at_kimg": round(kimg, 3),
        "from": before,
        "to": now,
        "fingerprint": fingerprint,
        "note": note,
    }


def _dataset_summary(data: Path) -> str | None:
    """The prepared dataset's one-line card (images, consent, removals); None for a plain
    folder or zip, which has no manifest."""
    if not (Path(data) / "manifest.json").is_file():
        return None
    from zizi.data.card import summary_line
    from zizi.errors import ZiziError

    try:
        return summary_line(Path(data))
    except ZiziError:
        return None


def _load_source_once(job: TrainJob, seed: int, dist: Dist) -> Checkpoint:
    """Rank 0 loads the source first (downloading a well-known name into the shared
    checkpoints folder); the other processes then read the file it wrote, so only rank 0
    ever writes it."""
    from zizi.train import distributed

    if dist.world > 1 and not dist.main:
        distributed.barrier("waiting for process 0 to fetch the source checkpoint")
        return load_source(job, seed)
    source = load_source(job, seed)
    if dist.world > 1:
        distributed.barrier("waiting for process 0 to fetch the source checkpoint")
    return source


def load_source(job: TrainJob, seed: int = 0) -> Checkpoint:
    """The checkpoint training starts from: resumed, imported, downloaded or freshly built
    (`--net`: random weights drawn from `seed`)."""
    if job.net is not None:
        return fresh_checkpoint(load_yaml(job.net, GeneratorConfig), seed=seed)
    from zizi.io.known import import_any

    ckpt = import_any(job.resume, job.checkpoints_dir)
    ckpt.state, ckpt.train = {}, None  # a snapshot given as a file starts a new run from its nets
    return ckpt


def matching_discriminator(g: GeneratorConfig) -> DiscriminatorConfig:
    """The config-f discriminator that goes with a generator preset (same size and widths)."""
    return DiscriminatorConfig(
        c_dim=g.c_dim,
        img_resolution=g.img_resolution,
        img_channels=g.img_channels,
        channel_base=g.channel_base,
        channel_max=g.channel_max,
        num_fp16_res=g.num_fp16_res,
        conv_clamp=g.conv_clamp,
    )


def fresh_checkpoint(g_cfg: GeneratorConfig, seed: int = 0) -> Checkpoint:
    """Randomly initialised G (= G_ema) and D for a preset: training from scratch."""
    import torch

    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    d_cfg = matching_discriminator(g_cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(g_cfg), Discriminator(d_cfg)
    g_sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    return Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors={"G": g_sd, "G_ema": {k: v.clone() for k, v in g_sd.items()}, "D": D.state_dict()},
        provenance={"importer": "zizi train --net", "seed": seed},
    )


def open_dataset(path: Path | str, source: Checkpoint, cfg: TrainConfig):
    """The training images, checked against the network: size, channels and labels."""
    from zizi.data.dataset import ImageDataset

    path = Path(path)
    if not str(path) or not path.exists():
        raise DatasetError(f"data not found: {path}")
    g = source.g_config
    ds = ImageDataset(
        path,
        use_labels=g.c_dim > 0,
        xflip=cfg.data.xflip,
        max_size=cfg.data.max_size,
        seed=cfg.seed,
    )
    if ds.resolution != g.img_resolution:
        if ds.resolution < g.img_resolution:
            fix = (
                f"make a {ds.resolution}² network with `zizi resize --resolution "
                f"{ds.resolution}`, or prepare the images at {g.img_resolution}² with "
                f"`zizi dataset prepare --resolution {g.img_resolution}`"
            )
        else:
            fix = (
                f"prepare the images at {g.img_resolution}² with `zizi dataset prepare "
                f"--resolution {g.img_resolution}`"
            )
        raise DatasetError(
            f"{path} has {ds.resolution}×{ds.resolution} images but the network "
            f"makes {g.img_resolution}×{g.img_resolution}; {fix}"
        )
    if ds.num_channels != g.img_channels:
        raise DatasetError(
            f"{path} has {ds.num_channels}-channel images but the network makes "
            f"{g.img_channels}-channel images"
        )
    if g.c_dim != ds.label_dim:
        raise DatasetError(
            f"the network is conditional on {g.c_dim} labels but {path} has "
            f"{ds.label_dim or 'no'} labels (dataset.json)"
            if g.c_dim
            else f"{path} has labels but the network is unconditional"
        )
    return ds


def _check_architecture(recorded: dict[str, Any] | None, snap: Checkpoint, path: Path) -> None:
    """The run's config.yaml and its snapshot must describe the same networks."""
    if not recorded:
        return
    actual = {"G": to_dict(snap.g_config), "D": to_dict(snap.d_config) if snap.d_config else None}
    diffs = _differences(recorded, actual)
    if diffs:
        raise ConfigError(
            f"{path} does not match its run's config.yaml ({'; '.join(diffs[:3])}); "
            "the architecture always comes from the checkpoint: restore config.yaml "
            "or start a new run with --resume pointing at the snapshot file"
        )


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        return out
    return [] if a == b else [f"{where}: {a!r} in config.yaml, {b!r} in the snapshot"]


def _name_of(data: Path | str) -> str:
    p = Path(data)
    return (p.stem if p.is_file() else p.name) or "run"


def _read_run_config(run: Path) -> dict[str, Any]:
    from zizi.io.runs import read_config

    data = read_config(run)
    if not isinstance(data.get("train"), dict):
        raise NotARunError(f"{run}/config.yaml is not a zizi run config")
    return data
