"""`zizi metrics`: FID, KID, SWD of a checkpoint or run, and a run's weight shift charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zizi.cli.options import device_option

MAX_NUM = 100_000  # images per measurement: twice the 50k of published FIDs


@click.command("metrics")
@click.argument("target", metavar="RUN_OR_CKPT", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The dataset to measure against (prepared folder, image folder or ADA zip).",
)
@click.option(
    "--metrics",
    "metric_names",
    default="fid,kid,swd,shift",
    show_default=True,
    help="Comma-separated: fid, kid, swd, shift (shift needs a run folder).",
)
@click.option(
    "--inception",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Inception file: inception-2015-12-05.pt/.pkl or pytorch-fid's "
    "pt_inception-2015-12-05-*.pth [default: $ZIZI_INCEPTION, then the zizi cache].",
)
@click.option(
    "--trust-torchscript",
    is_flag=True,
    help="Allow a TorchScript Inception file (NVIDIA's .pt/.pkl). Loading TorchScript "
    "RUNS CODE stored in the file, which can write any file you can write: only "
    "for a file whose origin you trust. pytorch-fid's .pth needs no flag.",
)
@click.option(
    "--num",
    type=click.IntRange(min=2, max=MAX_NUM),
    default=1000,
    show_default=True,
    help="Generated images per measurement (the shift's sample distance uses at most 256 "
    "per frame).",
)
@click.option(
    "--frames",
    "max_frames",
    type=click.IntRange(min=2, max=1000),
    default=8,
    show_default=True,
    help="Frames of a run to generate samples from for the sample-distance chart.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for latents and SWD.")
@click.option(
    "--best",
    is_flag=True,
    help="For a run: name the frame closest to --data (SWD, and FID with the "
    "Inception file) among --frames frames, before the run drifted away.",
)
@device_option
def metrics(
    target: Path,
    data: Path,
    metric_names: str,
    inception: Path | None,
    trust_torchscript: bool,
    num: int,
    max_frames: int,
    seed: int,
    best: bool,
    device: str,
) -> None:
    """Measure RUN_OR_CKPT (a zizi checkpoint or a training run folder) against --data.

    For a run: the newest frame's FID/KID/SWD, and with `shift` the weight shift and
    sample-distance charts in RUN/charts/ and JSON lines in RUN/metrics.jsonl.
    FID/KID need the Inception file; without it they are skipped with a note and the
    rest still runs.
    """
    from zizi.errors import ConfigError
    from zizi.metrics.measure import parse_metrics

    try:
        names = parse_metrics(metric_names)
    except ConfigError as e:
        raise click.BadParameter(str(e), param_hint="--metrics") from None
    is_run = target.is_dir()
    if "shift" in names and not is_run:
        if names == ["shift"]:
            raise click.BadParameter(
                f"{target} is a checkpoint; shift needs a training run folder",
                param_hint="--metrics",
            )
        names = [n for n in names if n != "shift"]

    from zizi.cli.options import progress_bar
    from zizi.data.dataset import ImageDataset
    from zizi.metrics.measure import get_detector, measure_checkpoint, measure_run
    from zizi.runtime import select_device

    dev = select_device(device)
    if trust_torchscript:  # loaded here, with the opt-in; measure_* then take the detector
        detector, _ = get_detector(names, inception, dev, allow_torchscript=True)
        inception = detector if detector is not None else inception
    dataset = ImageDataset(data)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = progress_bar(total=total, desc=stage, leave=False)
        bar.update(done - bar.n)

    if best:
        if not is_run:
            raise click.BadParameter(
                f"{target} is a checkpoint; --best picks among a run's frames", param_hint="--best"
            )
        from zizi.metrics.measure import best_frame

        try:
            res = best_frame(
                target,
                dataset,
                num=min(num, 256),
                inception=inception,
                device=dev,
                seed=seed,
                max_frames=max_frames,
                progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
        _print_best(res)
        return
    try:
        if is_run:
            res = measure_run(
                target,
                dataset,
                names,
                num=num,
                inception=inception,
                device=dev,
                seed=seed,
                max_frames=max_frames,
                progress=progress,
            )
        else:
            res = measure_checkpoint(
                target,
                dataset,
                names,
                num=num,
                inception=inception,
                device=dev,
                seed=seed,
                progress=progress,
            )
    finally:
        for bar in bars.values():
            bar.close()
    reasons = set((res.get("skipped") or {}).values())
    for why in reasons:
        click.echo(f"note: {why}", err=True)
    if is_run:
        click.echo(f"{target} at kimg {res['kimg']:g} ({res['frame']})")
    for key in ("fid", "kid", "swd"):
        if key in res:
            click.echo(f"  {key}: {res[key]:.4f}")
    levels = sorted(
        (k for k in res if k.startswith("swd") and k[3:].isdigit()), key=lambda k: int(k[3:])
    )
    if levels:
        click.echo("  swd per level (×10³): " + ", ".join(f"{k[3:]}: {res[k]:.2f}" for k in levels))
    if "weight_shift" in res:
        click.echo(f"  weight shift of G_ema from the base: {res['weight_shift']:.4f}")
        click.echo(
            f"  SWD to the data {res['swd_to_data']:.2f}, to base-model samples "
            f"{res['swd_to_base']:.2f}"
        )
    for chart in res.get("charts", []):
        click.echo(f"  chart: {chart}")
    if "stats_file" in res:
        click.echo(f"  records appended to {res['stats_file']}")


def _print_best(res: dict[str, Any]) -> None:
    for why in set((res.get("skipped") or {}).values()):
        click.echo(f"note: {why}", err=True)
    key = res["metric"]
    name = "FID" if key == "fid_to_data" else "SWD"
    for r in res["records"]:
        mark = "  <- best" if r is res["best"] else ""
        click.echo(f"  kimg {r['kimg']:9.3f}  {name} to the data {r[key]:10.4f}{mark}")
    b, last = res["best"], res["last"]
    click.echo(f"best frame: {res['path']} (kimg {b['kimg']:g}, {name} to the data {b[key]:.4f})")
    if last is b:
        click.echo("the newest frame is the closest so far: the run is still approaching the data")
    else:
        click.echo(
            f"the newest frame (kimg {last['kimg']:g}) is {res['rise']:.1%} further from "
            "the data: render up to the best frame, or stop here"
        )
