"""What is in a dataset: counts, sizes, skipped files, duplicates, colour, contact sheets."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zizi.data.folder import MAX_IMAGE_BYTES, REPORT, has_manifest, read_member
from zizi.data.manifest import load_manifest, plain_image_files
from zizi.data.phash import NEAR_DUPLICATE_BITS, near_duplicate_groups
from zizi.data.sheets import index_sheets, write_sheet
from zizi.errors import DatasetError
from zizi.text import printable


@dataclass
class ColourStats:
    mean_rgb: tuple[float, float, float]  # 0..255 over all pixels
    std_rgb: tuple[float, float, float]
    mean_luma: float  # Rec. 601 luma, 0..255
    mean_saturation: float  # HSV saturation, 0..1
    greyscale_images: int  # images whose channels are (nearly) equal


@dataclass
class DatasetSummary:
    path: Path
    images: int
    sources: int | None  # distinct source files (prepared datasets only)
    sizes: dict[str, int]  # "256×256" -> count
    align: str | None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)  # first word(s) -> count
    duplicate_groups: list[list[str]] = field(default_factory=list)
    removed: int = 0
    colour: ColourStats | None = None
    contact_sheets: list[Path] = field(default_factory=list)
    framing: dict[str, int] = field(default_factory=dict)  # "face", "center", ... -> images
    fallback: list[tuple[str, str]] = field(default_factory=list)  # (source, why) centre-cropped
    stale_sheets: list[Path] = field(default_factory=list)  # pages of an earlier run, deleted
    warnings: list[str] = field(default_factory=list)  # unsafe manifest entries left alone


def inspect_dataset(
    folder: Path,
    sheet_dir: Path | None = None,  # where contact-NNN.png go; None = no sheets
    per_page: int = 64,  # thumbnails per contact sheet page
    thumb: int = 128,  # thumbnail side in pixels
    near_bits: int = NEAR_DUPLICATE_BITS,
) -> DatasetSummary:
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{printable(folder)} is not a dataset folder")
    manifest = load_manifest(folder) if has_manifest(folder) else None
    files = [r.file for r in manifest.images] if manifest else plain_image_files(folder)
    skipped = _report_skipped(folder)
    reasons = Counter(_reason_kind(str(s.get("reason", ""))) for s in skipped)

    captions = [r.source for r in manifest.images] if manifest else files
    sizes: Counter[str] = Counter()
    sums = np.zeros(3)
    sq_sums = np.zeros(3)
    luma = sat = 0.0
    grey = 0
    pixels = 0
    hashes: list[int] = []
    sheets: list[Path] = []
    pages: dict[str, list[str]] = {}
    page: list[tuple[str, Image.Image]] = []
    for i, name in enumerate(files):
        try:
            data = read_member(folder, name, limit=MAX_IMAGE_BYTES)  # inside, a plain file
            if data is None:
                raise OSError("missing")
            with Image.open(io.BytesIO(data)) as im:
                sizes[f"{im.width}×{im.height}"] += 1
                rgb = im.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            hint = (
                "re-run `zizi dataset prepare`"
                if manifest
                else "run `zizi dataset prepare` on it to get a clean dataset and a report"
            )
            raise DatasetError(f"{folder / name} cannot be read as an image ({e}); {hint}") from e
        small = np.asarray(rgb.resize((64, 64), Image.Resampling.BOX), dtype=np.float64)
        sums += small.sum((0, 1))
        sq_sums += (small**2).sum((0, 1))
        pixels += 64 * 64
        luma += float((small @ [0.299, 0.587, 0.114]).sum())
        mx, mn = small.max(2), small.min(2)
        sat += float(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0).sum())
        grey += int(np.abs(small - small.mean(2, keepdims=True)).max() < 2)
        if manifest is None:
            from zizi.data.phash import phash

            hashes.append(phash(rgb))
        if sheet_dir is not None:
            page.append((captions[i], rgb.resize((thumb, thumb), Image.Resampling.LANCZOS)))
            if len(page) == per_page or i == len(files) - 1:
                first = i + 1 - len(page)
                sheets.append(write_sheet(page, Path(sheet_dir), len(sheets), first))
                pages[sheets[-1].name] = files[first : i + 1]
                page = []

    colour = None
    if pixels:
        mean = sums / pixels
        std = np.sqrt(np.maximum(sq_sums / pixels - mean**2, 0))
        colour = ColourStats(
            mean_rgb=tuple(round(float(v), 2) for v in mean),
            std_rgb=tuple(round(float(v), 2) for v in std),
            mean_luma=round(luma / pixels, 2),
            mean_saturation=round(sat / pixels, 4),
            greyscale_images=grey,
        )
    if manifest is not None:
        hashes = [int(r.phash, 16) for r in manifest.images]
        shown = [f"{r.file} ({r.source})" for r in manifest.images]
    else:
        shown = files
    groups = near_duplicate_groups(shown, hashes, near_bits) + _dropped_at_prepare(skipped)
    stale: list[Path] = []
    if sheet_dir is not None:
        stale = index_sheets(folder, Path(sheet_dir), pages)
    framing: Counter[str] = Counter()
    fallback: list[tuple[str, str]] = []
    for r in manifest.images if manifest else []:
        framing[str(r.transform.get("align", "?"))] += 1
        if r.transform.get("fallback"):
            fallback.append((r.source, str(r.transform["fallback"])))  # what the person has
    return DatasetSummary(
        framing=dict(framing),
        fallback=fallback,
        stale_sheets=stale,
        warnings=manifest.warnings() if manifest else [],
        path=folder,
        images=len(files),
        sources=len({r.source for r in manifest.images}) if manifest else None,
        sizes=dict(sizes),
        align=manifest.align if manifest else None,
        skipped=skipped,
        skip_reasons=dict(reasons),
        duplicate_groups=groups,
        removed=len(manifest.removed) if manifest else 0,
        colour=colour,
        contact_sheets=sheets,
    )


def _report_skipped(folder: Path) -> list[dict[str, Any]]:
    """report.json's skipped list (empty when there is none; one clear error if damaged)."""
    path = folder / REPORT
    data = read_member(folder, REPORT)  # a link out or a FIFO: one line, never read
    if data is None:
        return []
    try:
        items = json.loads(data.decode("utf-8")).get("skipped", [])
        return [i for i in items if isinstance(i, dict) and "source" in i and "reason" in i]
    except (OSError, ValueError, AttributeError, TypeError, RecursionError) as e:
        raise DatasetError(
            f"{printable(path)} is damaged ({printable(e)}); re-run `zizi dataset prepare`"
        ) from e


def _reason_kind(reason: str) -> str:
    """'truncated: image file is truncated (3 bytes...)' -> 'truncated'."""
    head = reason.split(":", 1)[0].split("(", 1)[0].strip()
    return head.removesuffix(" of").rsplit(" of ", 1)[0].strip()


def _dropped_at_prepare(skipped: list[dict[str, Any]]) -> list[list[str]]:
    """Duplicate groups `prepare --dedupe` dropped: the kept source first, then the
    skipped duplicates of it."""
    dropped: dict[str, list[str]] = {}
    for s in skipped:
        if s.get("duplicate_of"):
            dropped.setdefault(s["duplicate_of"], []).append(s["source"])
    return [[owner, *dups] for owner, dups in sorted(dropped.items())]
