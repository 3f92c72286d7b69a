"""`zizi train`: StyleGAN2 training that resumes from a face checkpoint and never loses work."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from zizi.cli.options import device_option, precision_option


@click.command("train")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Training images: a folder from `zizi dataset prepare`, an image folder or an "
    "ADA zip. (Continuing a run folder reuses its data.)",
)
@click.option(
    "--resume",
    default=None,
    help="Start from a zizi checkpoint, any file `zizi import` reads, a well-known name "
    "(`zizi checkpoints`), or continue a run folder exactly.",
)
@click.option(
    "--net",
    type=click.Path(path_type=Path),
    default=None,
    help="Train from scratch with a network preset instead (e.g. configs/nets/tiny.yaml).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for runs; each run gets RUNS/NNNNN-name/.",
)
@click.option(
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Training config YAML (e.g. configs/train/ffhq256.yaml), or `auto` for "
    "StyleGAN2-ADA's --cfg auto values (printed at start); repeatable, later wins.",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one config value, e.g. --set loss.r1_gamma=2; repeatable.",
)
@click.option(
    "--kimg", type=float, default=None, help="Run length in thousands of images (0.2 = 200)."
)
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Global minibatch size.")
@click.option("--snap-kimg", type=float, default=None, help="Full snapshot every this many kimg.")
@click.option("--frame-kimg", type=float, default=None, help="G_ema frame every this many kimg.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed.")
@click.option(
    "--augment",
    type=click.Choice(["ada", "fixed", "off"]),
    default=None,
    help="Augment what D sees: ada (p adapts, the fine-tune guard), fixed (augment.p), off.",
)
@click.option(
    "--freeze-d",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="FreezeD: keep D's N layers nearest the image as they are (freeze.d_layers).",
)
@click.option(
    "--freeze-mapping/--no-freeze-mapping",
    default=None,
    help="Keep G's mapping network (the W space) as it is (freeze.mapping).",
)
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="NHWC memory layout (speed.channels_last; off by default until measured "
    "faster on your GPU).",
)
@click.option(
    "--gpus",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes to start on this machine (one per GPU); under torchrun, leave at 1.",
)
@click.option(
    "--dist-timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="With several processes: a collective (gradient "
    "all-reduce, stop request, ...) waiting this long for the others is an error "
    "naming the process and the collective, not a silent hang.",
)
@device_option
@precision_option
def train(
    data: Path | None,
    resume: str | None,
    net: Path | None,
    out: Path | None,
    config_files: tuple[Path, ...],
    assignments: tuple[str, ...],
    kimg: float | None,
    batch: int | None,
    snap_kimg: float | None,
    frame_kimg: float | None,
    seed: int | None,
    augment: str | None,
    freeze_d: int | None,
    freeze_mapping: bool | None,
    channels_last: bool | None,
    gpus: int,
    dist_timeout: float,
    device: str,
    precision: str | None,
) -> None:
    """Train (fine-tune) a StyleGAN2 network on an image folder.

    \b
      zizi train --data datasets/faces --resume ffhq-256 --out runs \\
                 --config configs/train/ffhq256.yaml
      zizi train --resume runs/00003-faces            # continue exactly where it stopped
      zizi train --data datasets/faces --net configs/nets/tiny.yaml --out runs \\
                 --config configs/train/tiny.yaml     # from scratch, small and CPU-sized

    Ctrl-C (or SIGTERM) finishes the current step, writes a snapshot and exits 0.
    """
    from zizi.train.setup import TrainJob

    if resume is None and net is None:
        raise click.UsageError("give --resume (checkpoint, name or run folder) or --net (preset)")
    if resume is not None and net is not None:
        raise click.UsageError(
            "give --resume or --net, not both: the architecture comes from one source"
        )
    if kimg is not None and not kimg > 0:
        raise click.BadParameter(f"must be more than 0, got {kimg}", param_hint="--kimg")
    for name, v in (("--snap-kimg", snap_kimg), ("--frame-kimg", frame_kimg)):
        if v is not None and not v > 0:
            raise click.BadParameter(f"must be more than 0, got {v}", param_hint=name)
    continuing = resume is not None and Path(resume).is_dir()
    if not continuing and data is None:
        raise click.UsageError("--data is required")
    if not continuing and out is None:
        raise click.UsageError("--out is required")
    flags = {
        "kimg": kimg,
        "batch": batch,
        "snap_kimg": snap_kimg,
        "frame_kimg": frame_kimg,
        "seed": seed,
        "precision": precision,
    }
    if augment is not None:
        flags["augment"] = {"mode": augment}
    freeze = {
        k: v for k, v in (("d_layers", freeze_d), ("mapping", freeze_mapping)) if v is not None
    }
    if freeze:
        flags["freeze"] = freeze
    if channels_last is not None:
        flags["speed"] = {"channels_last": channels_last}
    job = TrainJob(
        out=out,
        data=data,
        resume=resume,
        net=net,
        config_files=list(config_files),
        assignments=list(assignments),
        flags={k: v for k, v in flags.items() if v is not None},
        dist_timeout_s=dist_timeout,
    )
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        _spawn(job, gpus, device)
    else:
        run_job(job, device)


def run_job(job, device_choice: str, rank_env: dict[str, str] | None = None) -> None:
    """Train in this process (one rank of a job, or the only one)."""
    import torch

    from zizi.errors import ZiziError
    from zizi.io.runs import run_lock
    from zizi.runtime import select_device
    from zizi.train import distributed
    from zizi.train.loop import train as train_loop
    from zizi.train.setup import prepare

    dist = distributed.from_env(job.dist_timeout_s)
    device = select_device(device_choice)
    if device.type == "cuda" and dist.world > 1:
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    distributed.init(dist, device)
    stop = _StopFlag()
    stop.install()
    locks = contextlib.ExitStack()
    hung = False
    try:
        # one trainer per run folder: a second `--resume RUN` while it trains is refused
        if dist.main and job.resume is not None and Path(job.resume).is_dir():
            locks.enter_context(run_lock(job.resume))
        prep = prepare(job, device, dist)
        if dist.main and prep.run_path is not None and prep.continued_from is None:
            locks.enter_context(run_lock(prep.run_path))
        for note in prep.notes:
            _say(f"note: {note}", dist)
        if prep.run_path is not None:
            verb = "continuing" if prep.continued_from else "writing"
            _say(f"{verb} {prep.run_path}", dist)
        bar = TickProgress(dist.main)
        try:
            outcome = train_loop(
                prep.trainer, prep.dataset, prep.run, should_stop=stop, progress=bar.update
            )
        except torch.OutOfMemoryError as e:
            raise ZiziError(
                f"out of GPU memory with --batch {prep.trainer.cfg.batch} "
                f"({prep.trainer.batch_local} per GPU); try a smaller --batch, "
                f"e.g. --batch {max(prep.trainer.cfg.batch // 2, 1)}"
            ) from e
        finally:
            bar.close()
            if prep.run is not None:
                prep.run.close()
        if dist.main and outcome.snapshot is None and outcome.status == "done":
            click.echo(
                f"the run is already at kimg {outcome.nimg / 1000:.3f}, its length; pass a "
                "larger --kimg to train it further",
                err=True,
            )
        elif dist.main:
            how = "stopped on request" if outcome.status == "stopped" else "finished"
            where = f"; snapshot {outcome.snapshot}" if outcome.snapshot else ""
            click.echo(f"{how} at kimg {outcome.nimg / 1000:.3f}{where}", err=True)
    except distributed.CollectiveTimeout:
        hung = True  # a peer is gone: tearing the group down could wait for it forever
        raise
    finally:
        locks.close()
        stop.uninstall()
        if dist.world > 1 and torch.distributed.is_initialized() and not hung:
            torch.distributed.destroy_process_group()


class _StopFlag:
    """SIGINT/SIGTERM ask the loop to stop after the current step (it then snapshots)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}
        self._pid = os.getpid()

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return  # a DataLoader worker forked with this handler: the main process decides
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = True
        print(
            f"\n{signal.Signals(signum).name}: finishing this step, writing a snapshot "
            "(Ctrl-C again to abandon it)",
            file=sys.stderr,
            flush=True,
        )

    def install(self) -> None:
        self._pid = os.getpid()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class TickProgress:
    """Progress on rank 0: a tqdm bar over kimg on a terminal; elsewhere (a log file, a
    pipe, `zizi demo`) one line per tick, so a long run is never silent. Every trainer's
    command shows it (`zizi train`, `zizi encoder train`); `fields` picks what a tick shows."""

    def __init__(
        self, main: bool, fields: Callable[[dict[str, Any]], dict[str, str]] | None = None
    ) -> None:
        self.bar = None
        self.main = main
        self.fields = fields or _tick_fields
        self.enabled = main and sys.stderr.isatty()
        self.start: tuple[float, int] | None = None  # (time, nimg) of the first event

    def update(self, event: dict[str, Any]) -> None:
        if "warning" in event:  # the run's signs of overfitting, on any terminal or log
            if self.bar is not None:
                self.bar.write(event["warning"], file=sys.stderr)
            else:
                click.echo(event["warning"], err=True)
            return
        if not self.main:
            return
        if self.start is None:
            self.start = (time.monotonic(), event["nimg"])
        if not self.enabled:
            if "tick" in event:
                click.echo(self._line(event), err=True)
            return
        # The last minibatch may pass the run's length (--kimg need not be a multiple of the
        # batch): the bar stops at its total rather than showing 112% and a negative ETA.
        kimg = min(event["nimg"], event["end_nimg"]) / 1000
        if self.bar is None:
            from zizi.cli.options import progress_bar

            # `initial`: a resumed run's earlier kimg count towards the bar, not towards the
            # rate its ETA is computed from (tqdm divides n - initial by the elapsed time).
            self.bar = progress_bar(
                total=event["end_nimg"] / 1000,
                initial=kimg,
                unit="kimg",
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} kimg "
                "[{elapsed}<{remaining}]{postfix}",
            )
        self.bar.n = kimg
        if "tick" in event:
            self.bar.set_postfix(self.fields(event["tick"]), refresh=False)
        self.bar.refresh()

    def _line(self, event: dict[str, Any]) -> str:
        """`tick 3  kimg 2.000/6.000  s/kimg 8.1  G 1.234  D 0.567  ETA 0:32` (this process's
        rate: a resumed run's earlier kimg don't count)."""
        e, end = event["tick"], event["end_nimg"]
        nimg = min(event["nimg"], end)
        parts = [f"tick {e['tick']}"] if "tick" in e else []
        parts += [f"kimg {nimg / 1000:.3f}/{end / 1000:.3f}"]
        parts += [f"{k} {v}" for k, v in self.fields(e).items()]
        t0, n0 = self.start or (time.monotonic(), nimg)
        if nimg > n0 and nimg < end:
            left = (end - nimg) * (time.monotonic() - t0) / (nimg - n0)
            parts.append(
                f"ETA {int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}"
            )
        return "  ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _tick_fields(e: dict[str, Any]) -> dict[str, str]:
    """What the progress shows of a tick: speed, the two losses, ADA's p."""
    post = {}
    if e.get("sec_per_kimg"):
        post["s/kimg"] = f"{e['sec_per_kimg']:.1f}"
    for k in ("loss/G", "loss/D"):
        if k in e:
            post[k.removeprefix("loss/")] = f"{e[k]:.3f}"
    if e.get("augment_p") is not None:
        post["p"] = f"{e['augment_p']:.3f}"
    return post


def _say(text: str, dist) -> None:
    from zizi.text import printable

    if dist.main:
        click.echo(printable(text), err=True)


def _spawn(job, gpus: int, device: str) -> None:
    """`--gpus N`: start N processes on this machine, as torchrun would."""
    import socket

    import torch.multiprocessing as mp

    from zizi.errors import ZiziError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        mp.spawn(_worker, args=(gpus, port, job, device), nprocs=gpus, join=True)
    except mp.ProcessExitedException as e:
        raise ZiziError(
            f"a training process ended with an error (exit code {e.exit_code}); "
            "see its message above"
        ) from None


def _worker(rank: int, world: int, port: int, job, device: str) -> None:
    from zizi.errors import ZiziError

    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        run_job(job, device)
    except ZiziError as e:
        print(f"Error (process {rank}): {e}", file=sys.stderr, flush=True)
        sys.exit(1)
