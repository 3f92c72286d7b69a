"""How far fine-tuning moved the network: weight shift and sample distances over kimg.

Reads a run folder's `frames/frame-<nimg:012d>.safetensors` (G_ema-only checkpoints;
frame 0 is the untouched base model), one file at a time, so a run with hundreds of
frames of a 1024² generator needs memory for two generators, not for all of them.

- Weight shift: for every G_ema tensor, ‖W_t − W_base‖ / ‖W_base‖ (Frobenius norms), and
  the same for groups of tensors (the mapping network and each synthesis block, norms
  taken over the group's tensors together) and for the whole generator; `w_avg` (a
  running average of w, not a weight) is listed per tensor but left out of the groups.
- Sample distance: images from the same seeds at each frame, compared (SWD, and FID when
  an Inception detector is given) with the new dataset ("to data") and with the base
  model's images ("to base"). The base's distance to the data is where fine-tuning
  started; "to data" falling and "to base" rising is the network leaving the normative
  faces for the new set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zizi.errors import ZiziError

RUNNING_STATS = ("w_avg",)  # tracked averages (truncation's mean w), not trained weights
Progress = Callable[[int, int], None]


def list_frames(run: str | Path) -> list[tuple[int, Path]]:
    """(nimg, path) of every frame in run/frames (`zizi.io.runs`); an error when there are none."""
    import os

    from zizi.io.runs import FRAMES
    from zizi.io.runs import list_frames as frames_of

    if not os.path.lexists(Path(run) / FRAMES):
        raise ZiziError(f"{run} has no {FRAMES}/ folder; is it a zizi training run?")
    frames = frames_of(run)
    if not frames:
        raise ZiziError(f"{run}/frames holds no frame-<nimg>.safetensors files")
    return frames


def _g_ema(path: Path) -> dict[str, torch.Tensor]:
    from zizi.io.checkpoint import load_checkpoint

    return load_checkpoint(path, nets=["G_ema"]).tensors["G_ema"]


def group_of(name: str) -> str:
    """'mapping.fc0.weight' -> 'mapping'; 'synthesis.b64.conv0.weight' -> 'b64'."""
    parts = name.split(".")
    if parts[0] == "synthesis" and len(parts) > 1:
        return parts[1]
    return parts[0]


def _group_order(name: str) -> tuple[int, int]:
    if name.startswith("b") and name[1:].isdigit():
        return (1, int(name[1:]))
    return (0, 0) if name == "mapping" else (2, 0)


def relative_change(base: dict[str, torch.Tensor], cur: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per-tensor, per-group and total ‖W − W_base‖ / ‖W_base‖ (floating tensors only)."""
    per_tensor: dict[str, float] = {}
    g_diff: dict[str, float] = {}
    g_base: dict[str, float] = {}
    for name, w0 in base.items():
        if not w0.is_floating_point() or name not in cur:
            continue
        w0 = w0.to(torch.float64)
        diff2 = float((cur[name].to(torch.float64) - w0).pow(2).sum())
        base2 = float(w0.pow(2).sum())
        per_tensor[name] = (diff2**0.5) / max(base2**0.5, 1e-12)
        if name.endswith(RUNNING_STATS):
            continue  # a running average, not a weight: listed, but not in the groups
        g = group_of(name)
        g_diff[g] = g_diff.get(g, 0.0) + diff2
        g_base[g] = g_base.get(g, 0.0) + base2
    groups = {
        g: (g_diff[g] ** 0.5) / max(g_base[g] ** 0.5, 1e-12)
        for g in sorted(g_diff, key=_group_order)
    }
    total = (sum(g_diff.values()) ** 0.5) / max(sum(g_base.values()) ** 0.5, 1e-12)
    return {"total": total, "groups": groups, "tensors": per_tensor}


def weight_shift(run: str | Path, progress: Progress | None = None) -> list[dict[str, Any]]:
    """One record per frame: {"kimg", "nimg", "total", "groups", "tensors"}."""
    frames = list_frames(run)
    if frames[0][0] != 0:
        raise ZiziError(f"{run}/frames has no base frame frame-000000000000.safetensors")
    base = _g_ema(frames[0][1])
    records = []
    for i, (nimg, path) in enumerate(frames):
        cur = base if i == 0 else _g_ema(path)
        missing = [k for k in base if k not in cur]
        if missing:
            raise ZiziError(
                f"{path.name} lacks {missing[0]} of the base model; frames of one run "
                "must share one architecture"
            )
        records.append({"nimg": nimg, "kimg": nimg / 1000, **relative_change(base, cur)})
        del cur
        if progress is not None:
            progress(i + 1, len(frames))
    return records


def pick_frames(frames: list[tuple[int, Path]], max_frames: int) -> list[tuple[int, Path]]:
    """At most `max_frames` frames, evenly spread, always the first and the last."""
    if max_frames < 2 or len(frames) <= max_frames:
        return frames if max_frames >= 2 else frames[-1:]
    idx = sorted({round(i * (len(frames) - 1) / (max_frames - 1)) for i in range(max_frames)})
    return [frames[i] for i in idx]


def sample_distance(
    run: str | Path,
    dataset: Any,
    num: int = 256,
    seed: int = 0,
    detector: Any = None,
    max_frames: int = 8,
    device: Any = "cpu",
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Per chosen frame: SWD (and FID with `detector`) of its samples to the data and to the
    base's."""
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.metrics.features import dataset_images, feature_stats, generated_images
    from zizi.metrics.frechet import FeatureStats, frechet_distance
    from zizi.metrics.swd import PyramidDescriptors, descriptors_of, swd

    frames = pick_frames(list_frames(run), max_frames)
    if frames[0][0] != 0:
        raise ZiziError(f"{run}/frames has no base frame frame-000000000000.safetensors")
    real_desc = descriptors_of(dataset_images(dataset, num), seed=seed)
    real_fid = None
    if detector is not None:
        real_fid = feature_stats(
            dataset_images(dataset, num), detector, num, keep_all=False
        ).mean_cov()
    base_desc = base_fid = None
    records = []
    for i, (nimg, path) in enumerate(frames):
        G = build_generator(load_checkpoint(path, nets=["G_ema"]), "G_ema").to(device)
        acc = PyramidDescriptors(seed=seed + 1)
        stats = FeatureStats(keep_all=False) if detector is not None else None
        for images in generated_images(G, num, seed=seed, device=device):  # streamed: no image list
            acc.append(images)
            if stats is not None:
                stats.append(detector(images).numpy())
        del G
        desc = acc.result()
        rec: dict[str, Any] = {"nimg": nimg, "kimg": nimg / 1000, "num": num}
        rec["swd_to_data"] = swd(desc, real_desc, seed=seed)["swd"]
        if base_desc is None:
            base_desc = desc
        rec["swd_to_base"] = swd(desc, base_desc, seed=seed)["swd"]
        if stats is not None and real_fid is not None:
            st = stats.mean_cov()
            rec["fid_to_data"] = frechet_distance(*st, *real_fid)
            if base_fid is None:
                base_fid = st
            rec["fid_to_base"] = frechet_distance(*st, *base_fid)
        records.append(rec)
        if progress is not None:
            progress(i + 1, len(frames))
    return records


TOTAL_LABEL = "all of G_ema (size-weighted mean)"


def shift_charts(
    run: str | Path, weights: list[dict[str, Any]] | None, samples: list[dict[str, Any]] | None
) -> list[Path]:
    """charts/weight-shift.png and charts/sample-distance.png (those with data)."""
    from zizi.io.runs import CHARTS, inside
    from zizi.metrics.charts import line_chart, line_panels

    def chart(name: str) -> Path:  # confined: a `charts -> elsewhere` link is refused
        return inside(run, CHARTS, name, kind="file")

    inside(run, CHARTS, kind="dir")
    written = []
    if weights:
        kimg = [r["kimg"] for r in weights]
        series = {g: (kimg, [r["groups"][g] for r in weights]) for g in weights[-1]["groups"]}
        # The total is a size-weighted mean of the groups, not a sum: it sits near the group
        # with the largest weights (usually the mapping net, whose equalised-lr weights are
        # stored ~100x larger and move slowly), often below every synthesis block's curve.
        series[TOTAL_LABEL] = (kimg, [r["total"] for r in weights])
        written.append(
            line_chart(
                chart("weight-shift.png"),
                series,
                "How far G_ema's weights moved from the base model",
                "kimg (thousands of images seen)",
                "‖W − W_base‖ / ‖W_base‖",
                note="mapping = mapping network; bN = synthesis block at N×N "
                "(its convs and toRGB); "
                "all = every weight together, a mean weighted by size, so it follows the "
                "largest group (often the mapping net) and can sit below every block",
            )
        )
    if samples:
        kimg = [r["kimg"] for r in samples]
        panels = [
            (
                "SWD (offline, no network needed)",
                "SWD ×10³",
                {
                    "to the new data": (kimg, [r["swd_to_data"] for r in samples]),
                    "to base-model samples": (kimg, [r["swd_to_base"] for r in samples]),
                },
            )
        ]
        if "fid_to_data" in samples[0]:
            panels.append(
                (
                    "FID (Inception features)",
                    "FID",
                    {
                        "to the new data": (kimg, [r["fid_to_data"] for r in samples]),
                        "to base-model samples": (kimg, [r["fid_to_base"] for r in samples]),
                    },
                )
            )
        written.append(
            line_panels(
                chart("sample-distance.png"),
                panels,
                "kimg (thousands of images seen)",
                note="How far the generated images moved: "
                f"{samples[0]['num']} images per point, the "
                "same seeds at every kimg; the first point is the base model",
            )
        )
    return written


def append_jsonl(run: str | Path, records: list[dict[str, Any]]) -> Path:
    """Append JSON lines to RUN/metrics.jsonl, one line each: the file is never read back,
    so a long history costs nothing (a 300 MB file once cost 1.2 GB to append to)."""
    from zizi.io.runs import METRICS, append_line, inside

    for r in records:
        append_line(run, METRICS, json.dumps(r, ensure_ascii=False))
    return inside(run, METRICS, kind="file")
