"""The training loop: minibatches until the run's length, with ticks, frames and snapshots.

Work is never lost: a stop request (SIGINT/SIGTERM, handled by the CLI) ends the current
step, writes a snapshot and returns; a killed process loses at most one snapshot
interval; NaN/Inf stops before anything bad is written, naming the last good snapshot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from zizi.errors import ZiziError
from zizi.io.runs import frame_path
from zizi.train import distributed, step
from zizi.train.data import batches
from zizi.train.run import RunFolder
from zizi.train.trainer import Trainer, rank_seed


class TrainingDiverged(ZiziError):
    """Losses or weights became NaN/Inf."""


@dataclass
class Outcome:
    status: str  # "done" | "stopped"
    nimg: int
    snapshot: str | None  # the last full snapshot written
    stats: list[dict[str, Any]] = field(default_factory=list)


def _next_multiple(nimg: int, every_kimg: float) -> int:
    every = max(int(round(every_kimg * 1000)), 1)
    return (nimg // every + 1) * every


# How the sample grids are drawn, so a person can read them to decide when to stop: without
# per-pixel noise (an early or small net turns its stored noise maps into speckle; `zizi
# demo` draws its video the same way), and each face resized (Lanczos, as `render --size`)
# to at least SAMPLE_FACE_PX_MIN and at most SAMPLE_FACE_PX_MAX pixels a side.
SAMPLE_NOISE_MODE = "none"
SAMPLE_FACE_PX_MIN = 128  # a 32² net's 4x4 grid becomes 512², not a 128² thumbnail
SAMPLE_FACE_PX_MAX = 256  # a 1024² net's grid stays 1024², not a 4096² file every snapshot


def sample_face_px(resolution: int) -> int:
    """The side each face of a sample grid is drawn at, for a net of `resolution`."""
    return min(max(resolution, SAMPLE_FACE_PX_MIN), SAMPLE_FACE_PX_MAX)


def sample_grid(trainer: Trainer, n: int):
    """The fixed-seed sample grid of G_ema as an [H, W, C] uint8 array (see SAMPLE_*)."""
    import numpy as np
    from PIL import Image

    from zizi.latents import z_for_seeds
    from zizi.render.images import make_grid, to_uint8

    G = trainer.G_ema
    c = None
    if G.c_dim > 0:
        c = torch.eye(G.c_dim)[torch.arange(n) % G.c_dim]
    z = z_for_seeds(list(range(n)), G.z_dim) if G.z_dim else torch.zeros(n, 0)
    faces = to_uint8(trainer.sample(z, c, noise_mode=SAMPLE_NOISE_MODE))  # [n, h, w, 3]
    side = sample_face_px(faces.shape[1])
    if side != faces.shape[1]:
        faces = np.stack(
            [np.asarray(Image.fromarray(f).resize((side, side), Image.LANCZOS)) for f in faces]
        )
    return make_grid(faces)


def train(
    trainer: Trainer,
    dataset,
    run: RunFolder | None,  # None on processes other than rank 0
    *,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    max_steps: int | None = None,  # stop (with a snapshot) after this many steps (tests)
) -> Outcome:
    cfg = trainer.cfg
    trainer.set_label_pool(dataset)
    end_nimg = int(round(cfg.kimg * 1000))
    watch = _Watcher(trainer, dataset, run) if run is not None else None

    def warn(lines: list[str]) -> None:
        for line in lines:
            run.log(line)
            if progress is not None:
                progress({"warning": line, "nimg": trainer.nimg, "end_nimg": end_nimg})

    if run is not None and trainer.nimg == 0:
        run.write_frame(trainer.frame(), 0)
        run.write_samples(0.0, sample_grid(trainer, cfg.sample_seeds))
        warn(watch.frame())
    pin = trainer.device.type == "cuda"
    data = batches(
        dataset,
        cfg.batch,
        cfg.seed,
        trainer.data_pos,
        trainer.dist.rank,
        trainer.world,
        cfg.data.workers,
        pin,
        trainer.batch_gpu,
    )
    next_tick = _next_multiple(trainer.nimg, cfg.tick_kimg)
    next_frame = _next_multiple(trainer.nimg, cfg.frame_kimg)
    next_snap = _next_multiple(trainer.nimg, cfg.snap_kimg)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    tick = {
        "start": time.perf_counter(),
        "nimg": trainer.nimg,
        "n": run.next_tick() if run is not None else 0,
    }
    last_snapshot: str | None = None
    history: list[dict[str, Any]] = []
    steps = 0
    status = "done"
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)

    rollbacks = 0

    def do_tick() -> bool:
        """Log a tick; False when training diverged and was rolled back (skip the rest)."""
        nonlocal rollbacks
        entry = _tick_entry(trainer, sums, counts, tick)
        finite = all(
            math.isfinite(v) for k, v in entry.items() if k.startswith(("loss/", "scores/"))
        )
        if not finite or not trainer.finite():
            message = _diverged_message(trainer, run, entry)
            if cfg.on_nan == "rollback" and rollbacks < MAX_ROLLBACKS and _last_good(run, trainer):
                rollbacks += 1
                _rollback(trainer, run, rollbacks, message)
                sums.clear()
                counts.clear()
                tick.update(start=time.perf_counter(), nimg=trainer.nimg)
                return False
            raise TrainingDiverged(message)
        history.append(entry)
        if run is not None:
            entry.update(watch.watch.latest)
            run.stats(entry)
            run.log(_log_line(entry))
            warn(watch.watch.tick(entry))
        if progress is not None:
            progress({"tick": entry, "nimg": trainer.nimg, "end_nimg": end_nimg})
        sums.clear()
        counts.clear()
        tick.update(start=time.perf_counter(), nimg=trainer.nimg, n=tick["n"] + 1)
        return True

    def do_snapshot() -> None:
        nonlocal last_snapshot
        if not trainer.finite():  # never write a broken snapshot over good ones
            raise TrainingDiverged(_diverged_message(trainer, run, {}))
        snap = trainer.snapshot()  # collective: every rank takes part
        if run is not None:
            last_snapshot = str(run.write_snapshot(snap, trainer.nimg, cfg.keep_snapshots))
            run.write_samples(trainer.kimg, sample_grid(trainer, cfg.sample_seeds))

    while trainer.nimg < end_nimg:
        if _agree(should_stop(), trainer) or (max_steps is not None and steps >= max_steps):
            status = "stopped"
            break
        try:
            reals, labels = next(data)
        except RuntimeError:
            # Ctrl-C reaches the DataLoader's workers too; when a stop was asked for, their
            # exit is expected, and the snapshot below needs no more data.
            if should_stop():
                status = "stopped"
                break
            raise
        stats = step.train_step(trainer, reals, labels)
        steps += 1
        for k, v in stats.items():
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + 1
        if progress is not None:
            progress({"nimg": trainer.nimg, "end_nimg": end_nimg})
        if trainer.nimg >= next_tick:
            if not do_tick():  # rolled back: the data and schedule continue from the snapshot
                data = batches(
                    dataset,
                    cfg.batch,
                    cfg.seed,
                    trainer.data_pos,
                    trainer.dist.rank,
                    trainer.world,
                    cfg.data.workers,
                    pin,
                    trainer.batch_gpu,
                )
                next_frame = _next_multiple(trainer.nimg, cfg.frame_kimg)
                next_snap = _next_multiple(trainer.nimg, cfg.snap_kimg)
            next_tick = _next_multiple(trainer.nimg, cfg.tick_kimg)
        if trainer.nimg >= next_frame and run is not None:
            run.write_frame(trainer.frame(), trainer.nimg)
            warn(watch.frame())
            next_frame = _next_multiple(trainer.nimg, cfg.frame_kimg)
        if trainer.nimg >= next_snap and trainer.nimg < end_nimg:
            do_snapshot()
            next_snap = _next_multiple(trainer.nimg, cfg.snap_kimg)

    if steps == 0 and status == "done":
        return Outcome(status, trainer.nimg, None, history)  # a finished run: nothing to add
    if sums:
        do_tick()
    if run is not None and not frame_path(run.path, trainer.nimg).exists():
        run.write_frame(trainer.frame(), trainer.nimg)
    do_snapshot()
    return Outcome(status, trainer.nimg, last_snapshot, history)


class _Watcher:
    """Measures what `zizi.train.watch.Watch` checks at each frame (rank 0 only): the
    fixed-seed grid's diversity against the base network's (frame 0), and SWD to the data
    when `watch.swd_num` asks for it."""

    def __init__(self, trainer: Trainer, dataset, run: RunFolder) -> None:
        from zizi.train.watch import Watch

        self.trainer, self.dataset = trainer, dataset
        self.watch = Watch(trainer.cfg.watch)
        self.real_swd = None
        base = frame_path(run.path, 0)
        if trainer.nimg > 0 and base.exists():  # a resumed run: the base is its frame 0
            from zizi.io.checkpoint import build_generator, load_checkpoint

            with torch.random.fork_rng(devices=[]):  # building a net draws initial weights:
                # the run's own random streams must not notice (a resume continues exactly)
                G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema")
            self.watch.base_diversity = self._diversity(G.to(trainer.device))

    def _diversity(self, G) -> float:
        from zizi.latents import z_for_seeds
        from zizi.train.watch import grid_diversity

        n = max(self.trainer.cfg.sample_seeds, 2)
        z = z_for_seeds(list(range(n)), G.z_dim).to(self.trainer.device)
        c = (
            torch.eye(G.c_dim)[torch.arange(n) % G.c_dim].to(self.trainer.device)
            if G.c_dim > 0
            else None
        )
        with torch.no_grad():
            return grid_diversity(G(z, c, noise_mode="const"))

    def _swd(self) -> float | None:
        num = self.trainer.cfg.watch.swd_num
        if not num:
            return None
        from zizi.metrics.features import dataset_images, generated_images
        from zizi.metrics.swd import PyramidDescriptors, descriptors_of, swd

        seed = self.trainer.cfg.seed
        if self.real_swd is None:
            self.real_swd = descriptors_of(dataset_images(self.dataset, num), seed=seed)
        acc = PyramidDescriptors(seed=seed + 1)
        for images in generated_images(
            self.trainer.G_ema, num, seed=seed, device=self.trainer.device
        ):
            acc.append(images)
        return swd(acc.result(), self.real_swd, seed=seed)["swd"]

    def frame(self) -> list[str]:
        return self.watch.frame(self.trainer.kimg, self._diversity(self.trainer.G_ema), self._swd())


MAX_ROLLBACKS = 3  # a run that keeps diverging needs a person, not a fourth try


def _last_good(run: RunFolder | None, trainer: Trainer) -> bool:
    """Whether there is a snapshot to roll back to (every rank asks rank 0)."""
    have = run is not None and run.last_good is not None
    return bool(distributed.broadcast_object(have, trainer.world, "is there a snapshot"))


def _rollback(trainer: Trainer, run: RunFolder | None, count: int, why: str) -> None:
    """Reload the last good snapshot and continue with fresh random streams, so the same
    minibatches don't lead to the same blow-up."""
    from zizi.io.checkpoint import load_checkpoint

    path = run.last_good if run is not None else None
    paths = [distributed.broadcast_object(str(path), trainer.world, "rollback snapshot path")]
    snap = load_checkpoint(paths[0], verify=True)
    trainer.load_weights(snap)
    trainer.restore(snap)
    for i, gen in enumerate(trainer.gens):
        gen.manual_seed(rank_seed(trainer.cfg.seed + 1000 * count, trainer.virtual_ranks[i]))
    if run is not None:
        run.trim_after(trainer.nimg)
        run.log(f"{why}; rolled back to {paths[0]} (rollback {count} of {MAX_ROLLBACKS})")


def _agree(flag: bool, trainer: Trainer) -> bool:
    """Every process stops together: stop when any of them was asked to."""
    return distributed.any_true(flag, trainer.world, "stop request")


def _tick_entry(trainer: Trainer, sums, counts, tick) -> dict[str, Any]:
    elapsed = time.perf_counter() - tick["start"]
    done = trainer.nimg - tick["nimg"]
    entry: dict[str, Any] = {
        "tick": tick["n"],
        "kimg": trainer.kimg,
        "nimg": trainer.nimg,
        "step": trainer.step,
    }
    for k, v in sums.items():
        entry[k] = float(v) / counts[k]
    entry["augment_p"] = trainer.augment_p
    entry["sec_per_kimg"] = elapsed / (done / 1000) if done else None
    entry["images_per_sec"] = done / elapsed if elapsed > 0 else None
    if trainer.device.type == "cuda":
        entry["peak_mem_gib"] = torch.cuda.max_memory_allocated(trainer.device) / 2**30
        torch.cuda.reset_peak_memory_stats(trainer.device)
    else:  # the process's peak resident memory so far (Linux reports KiB)
        import resource

        entry["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    entry["time"] = time.time()
    return entry


def _log_line(e: dict[str, Any]) -> str:
    parts = [f"tick {e['tick']}", f"kimg {e['kimg']:.3f}"]
    if e.get("sec_per_kimg") is not None:
        parts.append(f"sec/kimg {e['sec_per_kimg']:.2f}")
    for k in ("loss/G", "loss/D", "loss/r1_penalty", "loss/pl_penalty"):
        if k in e:
            parts.append(f"{k.removeprefix('loss/')} {e[k]:.4f}")
    if e.get("augment_p") is not None:
        parts.append(f"augment_p {e['augment_p']:.3f}")
    if e.get("peak_mem_gib") is not None:
        parts.append(f"peak {e['peak_mem_gib']:.2f} GiB")
    return "  ".join(parts)


def _diverged_message(trainer: Trainer, run: RunFolder | None, entry: dict[str, Any]) -> str:
    bad = [
        k for k, v in entry.items() if k.startswith(("loss/", "scores/")) and not math.isfinite(v)
    ]
    what = ", ".join(bad) if bad else "the weights"
    last = run.last_good if run is not None else None
    where = (
        (
            f"the last good snapshot is {last}; resume from it (`zizi train --resume "
            f"{run.path}`) with a lower learning rate or R1 gamma"
        )
        if last
        else "no snapshot was written yet; lower the learning rate or raise R1 gamma "
        "and start again"
    )
    return f"training diverged at kimg {trainer.kimg:.3f} ({what} became NaN/Inf); stopped; {where}"
