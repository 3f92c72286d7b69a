"""`compute`: metrics of one generator against a dataset; `measure_run`: a whole run.

The trainer calls `compute(names, G_ema, dataset, ...)` at snapshots; `zizi metrics`
calls `measure_checkpoint` or `measure_run`. FID and KID need the Inception file; when
it is missing they are skipped, the reason is returned under "skipped", and the rest
(SWD, weight shift) still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zizi.errors import ConfigError, ZiziError

METRICS = ("fid", "kid", "swd", "shift")  # what `zizi metrics --metrics` can name
Progress = Callable[[str, int, int], None]  # (stage, done, total)
SAMPLE_METRICS = ("fid", "kid", "swd")


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    """'fid,swd' -> ['fid', 'swd']; unknown names are a ConfigError with a suggestion."""
    import difflib

    names = [
        n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()
    ]
    if not names:
        raise ConfigError(f"no metrics given; choose from {', '.join(METRICS)}")
    for n in names:
        if n not in METRICS:
            hint = difflib.get_close_matches(n, METRICS, n=1)
            raise ConfigError(
                f"unknown metric {n!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" (choose from {', '.join(METRICS)})"
            )
    return list(dict.fromkeys(names))


def get_detector(
    names: Sequence[str], inception: Any, device: Any, *, allow_torchscript: bool = False
) -> tuple[Any, str | None]:
    """(detector or None, why it is None) for the metrics that need Inception.

    TorchScript runs code from its file, so it loads only with `allow_torchscript`."""
    from zizi.metrics.inception import Detector, InceptionMissingError, load_inception

    if not any(n in ("fid", "kid") for n in names):
        return None, None
    if isinstance(inception, Detector):
        return inception, None
    try:
        return load_inception(inception, device, allow_torchscript=allow_torchscript), None
    except InceptionMissingError as e:
        return None, str(e)


def compute(
    names: Sequence[str],
    G: Any,
    dataset: Any,
    *,
    num: int = 1000,
    num_real: int | None = None,
    inception: Any = None,
    device: Any = "cpu",
    seed: int = 0,
    cache_dir: Path | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """FID/KID/SWD of generator `G` (`num` seeded samples) against `dataset`.

    Returns {"fid": .., "kid": .., "swd": .., "swd16": .., "num_gen": .., "num_real": ..,
    "skipped": {metric: reason}}; the Inception-based ones are skipped (with the reason)
    when `inception` (a path, a loaded Detector, or None to search the usual places)
    gives no network.
    """
    from zizi.metrics.features import dataset_images, generated_images, real_stats
    from zizi.metrics.frechet import FeatureStats, frechet_distance
    from zizi.metrics.kid import kid
    from zizi.metrics.swd import PyramidDescriptors, descriptors_of, swd

    names = [n for n in parse_metrics(names) if n in SAMPLE_METRICS]
    if num < 2:
        raise ConfigError(f"need at least 2 generated images, got {num}")
    if G.img_resolution != dataset.resolution:
        raise ZiziError(
            f"the generator makes {G.img_resolution}×{G.img_resolution} images but the "
            f"dataset is {dataset.resolution}×{dataset.resolution}"
        )
    out: dict[str, Any] = {"num_gen": num, "skipped": {}}
    if not names:
        return out
    detector, why = get_detector(names, inception, device)
    inc = [n for n in names if n in ("fid", "kid")]
    if inc and detector is None:
        out["skipped"] = {n: why for n in inc}
        inc = []
    n_real = min(len(dataset), num_real or max(num, len(dataset)))
    out["num_real"] = n_real

    def tick(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda d, t: progress(stage, d, t))

    real = None
    if inc:
        real = real_stats(
            dataset, detector, n_real, cache_dir=cache_dir, progress=tick("real features")
        )
    real_desc = None
    if "swd" in names:
        real_desc = descriptors_of(dataset_images(dataset, n_real), seed=seed)

    stats = FeatureStats(keep_all="kid" in inc) if inc else None
    acc = PyramidDescriptors(seed=seed + 1) if "swd" in names else None
    done = 0
    for images in generated_images(G, num, seed=seed, device=device):
        if stats is not None:
            stats.append(detector(images).numpy())
        if acc is not None:
            acc.append(images)
        done += images.shape[0]
        if progress is not None:
            progress("generated", done, num)
    if "fid" in inc:
        out["fid"] = frechet_distance(*stats.mean_cov(), real.mean, real.cov)
    if "kid" in inc:
        out["kid"] = kid(real.features, stats.all(), kid_subsets, kid_subset_size, seed=seed)
    if acc is not None:
        out.update(swd(acc.result(), real_desc, seed=seed))
    if detector is not None:
        out["inception"] = detector.tag
    return out


def measure_checkpoint(ckpt: Path, dataset: Any, names: Sequence[str], **kw: Any) -> dict[str, Any]:
    """`compute` for the G_ema of one zizi checkpoint."""
    from zizi.io.checkpoint import build_generator, load_checkpoint

    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema").to(kw.get("device", "cpu"))
    return compute(names, G, dataset, **kw)


def measure_run(
    run: Path,
    dataset: Any,
    names: Sequence[str],
    *,
    num: int = 1000,
    inception: Any = None,
    device: Any = "cpu",
    seed: int = 0,
    max_frames: int = 8,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Metrics of a run's newest frame, and (with "shift") its weight shift and sample
    distances over kimg: charts in run/charts/, records appended to run/metrics.jsonl."""
    from zizi.io.runs import CHARTS, METRICS, inside
    from zizi.metrics.shift import (
        append_jsonl,
        list_frames,
        sample_distance,
        shift_charts,
        weight_shift,
    )

    names = parse_metrics(names)
    frames = list_frames(run)
    for name in (CHARTS, METRICS):  # a link out of a received run: refused before any work
        inside(run, name)
    out: dict[str, Any] = {
        "run": str(run),
        "frame": frames[-1][1].name,
        "kimg": frames[-1][0] / 1000,
    }
    records: list[dict[str, Any]] = []

    def tick(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda d, t: progress(stage, d, t))

    sample_names = [n for n in names if n in SAMPLE_METRICS]
    detector, why = get_detector(names, inception, device)
    if sample_names:
        res = measure_checkpoint(
            frames[-1][1],
            dataset,
            sample_names,
            num=num,
            inception=detector if detector is not None else inception,
            device=device,
            seed=seed,
            cache_dir=cache_dir,
            progress=progress,
        )
        out.update(res)
        records.append(
            {
                "metric": "quality",
                "kimg": out["kimg"],
                "nimg": frames[-1][0],
                **{k: v for k, v in res.items() if k != "skipped"},
            }
        )
    if "shift" in names:
        weights = weight_shift(run, progress=tick("weight shift"))
        samples = sample_distance(
            run,
            dataset,
            num=min(num, 256),
            seed=seed,
            detector=detector,
            max_frames=max_frames,
            device=device,
            progress=tick("sample distance"),
        )
        out["charts"] = [str(p) for p in shift_charts(run, weights, samples)]
        out["weight_shift"] = weights[-1]["total"]
        out["swd_to_data"] = samples[-1]["swd_to_data"]
        out["swd_to_base"] = samples[-1]["swd_to_base"]
        records += [
            {
                "metric": "weight_shift",
                "nimg": r["nimg"],
                "kimg": r["kimg"],
                "total": r["total"],
                "groups": r["groups"],
                "tensors": r["tensors"],
            }
            for r in weights
        ]
        records += [{"metric": "sample_distance", **r} for r in samples]
    if records:
        out["stats_file"] = str(append_jsonl(run, records))
    return out


def pick_best(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The frame closest to the new data among `sample_distance` records (by FID when every
    frame has one, else SWD), with how far the newest frame has moved away from it since:
    the best frame before the run started diverging from the data."""
    if not records:
        raise ZiziError("no frames were measured")
    key = "fid_to_data" if all("fid_to_data" in r for r in records) else "swd_to_data"
    best = min(records, key=lambda r: r[key])
    last = records[-1]
    return {
        "metric": key,
        "best": best,
        "last": last,
        "rise": last[key] / best[key] - 1 if best[key] > 0 else 0.0,
    }


def best_frame(
    run: Path,
    dataset: Any,
    *,
    num: int = 256,
    inception: Any = None,
    device: Any = "cpu",
    seed: int = 0,
    max_frames: int = 8,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """`zizi metrics RUN --best`: measure up to `max_frames` frames of a run against the
    data (SWD, and FID when the Inception file is at hand) and pick the closest."""
    from zizi.io.runs import frame_path
    from zizi.metrics.shift import sample_distance

    detector, why = get_detector(["fid"], inception, device)
    records = sample_distance(
        run,
        dataset,
        num=num,
        seed=seed,
        detector=detector,
        max_frames=max_frames,
        device=device,
        progress=None if progress is None else (lambda d, t: progress("frames", d, t)),
    )
    out = pick_best(records)
    out["path"] = str(frame_path(run, out["best"]["nimg"]))
    out["records"] = records
    if why:
        out["skipped"] = {"fid": why}
    return out
