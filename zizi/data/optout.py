"""Opt-out: find a person's images in a dataset (by source name or by a photo) and remove
them, recording each removal in the manifest so the decision stays on file."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from zizi.data.manifest import ImageRecord, load_manifest, save_manifest
from zizi.errors import DatasetError

if TYPE_CHECKING:
    from PIL import Image

# A photo "matches" an image when its perceptual hash is this close. Looser than the
# prepare-time de-duplication: for opt-out a false positive is the safer mistake.
MATCH_BITS = 10


@dataclass(frozen=True)
class Match:
    file: str  # dataset image, e.g. "00000/img00000003.png"
    source: str  # its source path
    how: str  # "same file", "source name", "source photo (phash 3)", "image (phash 2)"
    distance: int  # 0 for exact matches


def find_by_name(records: list[ImageRecord], pattern: str) -> list[Match]:
    """Images whose source is `pattern`: a relative path, a file name, or a glob."""
    pattern = pattern.replace("\\", "/")
    out = []
    for r in records:
        name = r.source.rsplit("/", 1)[-1]
        if pattern in (r.source, name) or fnmatch.fnmatchcase(r.source, pattern):
            out.append(Match(r.file, r.source, "source name", 0))
    return out


def find_by_photo(
    dataset: Path, records: list[ImageRecord], photo: Path, max_bits: int = MATCH_BITS
) -> list[Match]:
    """Images made from `photo` or a near copy of it (re-saved, resized, re-framed)."""
    from zizi.data.images import SkipImage, decode
    from zizi.data.phash import hamming, phash

    data = Path(photo).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        im = decode(data, suffix=Path(photo).suffix).image
    except SkipImage as e:
        raise DatasetError(f"cannot read {photo}: {e.reason}") from None
    whole = phash(im)
    framed = _frame_like_dataset(dataset, im)
    out = []
    for r in records:
        if digest in (r.source_sha256, r.sha256):
            out.append(Match(r.file, r.source, "same file", 0))
            continue
        d_src = hamming(whole, int(r.source_phash, 16))
        d_img = min((hamming(f, int(r.phash, 16)) for f in framed), default=65)
        d_img = min(d_img, hamming(whole, int(r.phash, 16)))  # the photo is a dataset image
        if min(d_src, d_img) <= max_bits:
            how, d = (
                (f"source photo (phash {d_src})", d_src)
                if d_src <= d_img
                else (f"image (phash {d_img})", d_img)
            )
            out.append(Match(r.file, r.source, how, d))
    return sorted(out, key=lambda m: (m.distance, m.file))


def _frame_like_dataset(dataset: Path, im: Image.Image) -> list[int]:
    """Perceptual hashes of the photo framed as the dataset frames its sources."""
    from zizi.data import crops
    from zizi.data.phash import phash

    manifest = load_manifest(dataset)
    res = manifest.resolution
    hashes = [phash(crops.center_crop(im, res))]
    bg = tuple(manifest.options.get("background", (255, 255, 255)))
    hashes.append(phash(crops.pad_square(im, res, bg)))  # type: ignore[arg-type]
    if manifest.align.startswith("face"):
        from zizi.data.align import FaceFinder, align, faces_available, ffhq_quad

        if faces_available():
            finder = FaceFinder(landmarks=manifest.options.get("landmarks") or "5")
            for face in finder.find(im):
                hashes.append(phash(align(im, ffhq_quad(face), res)))
    return hashes


def find(dataset: Path, target: str, max_bits: int = MATCH_BITS) -> list[Match]:
    """`target` is a photo file (matched by content) or a source name / glob."""
    records = load_manifest(dataset).images
    path = Path(target)
    if path.is_file():
        return find_by_photo(dataset, records, path, max_bits)
    return find_by_name(records, target)


def remove(
    dataset: Path,
    targets: list[str],
    max_bits: int = MATCH_BITS,
    reason: str = "opt-out",
    dry_run: bool = False,
) -> tuple[list[Match], list[str]]:
    """Remove every image matching any target. Returns (removed, targets that matched
    nothing). The manifest is rewritten before files are deleted, so an interrupted
    removal never leaves a listed image without its file."""
    dataset = Path(dataset)
    manifest = load_manifest(dataset)
    matches: dict[str, Match] = {}
    unmatched = []
    for t in targets:
        found = find(dataset, t, max_bits)
        if not found:
            unmatched.append(t)
        for m in found:
            matches.setdefault(m.file, m)
    if dry_run or not matches:
        return list(matches.values()), unmatched
    by_file = {r.file: r for r in manifest.images}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for m in matches.values():
        r = by_file[m.file]
        manifest.removed.append(
            {
                "file": r.file,
                "source": r.source,
                "source_sha256": r.source_sha256,
                "matched_by": m.how,
                "reason": reason,
                "removed_at": now,
            }
        )
    manifest.images = [r for r in manifest.images if r.file not in matches]
    save_manifest(dataset, manifest)
    for f in matches:
        try:
            os.remove(dataset / f)
        except FileNotFoundError:
            pass
    return sorted(matches.values(), key=lambda m: m.file), unmatched
