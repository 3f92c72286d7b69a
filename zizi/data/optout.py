"""Opt-out: find a person's images in a dataset (by source name or by a photo) and remove
them, recording each removal in the manifest so the decision stays on file."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from zizi.data.folder import MANIFEST, REPORT, read_member
from zizi.data.manifest import (
    ImageRecord,
    Manifest,
    finish_removals,
    load_manifest,
    save_manifest,
)
from zizi.errors import DatasetError
from zizi.faults import fault_point
from zizi.text import nfc, printable

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
    """Images whose source is `pattern`: a relative path, a file name, or a glob.
    Names are compared in NFC, so a decomposed "Rene\u0301e.jpg" matches "Renée.jpg"."""
    pattern = nfc(pattern)
    out = []
    for r in records:
        if name_matches(r.source, pattern):
            out.append(Match(r.file, r.source, "source name", 0))
    return out


def name_matches(source: str, pattern: str) -> bool:
    """Whether `source` (a path relative to SRC) is named by `pattern` (NFC already)."""
    source = nfc(source)
    name = source.rsplit("/", 1)[-1]
    return pattern in (source, name) or fnmatch.fnmatchcase(source, pattern)


def find_by_photo(
    dataset: Path, records: list[ImageRecord], photo: Path, max_bits: int = MATCH_BITS
) -> list[Match]:
    """Images made from `photo` or a near copy of it (re-saved, resized, re-framed)."""
    from zizi.data.images import SkipImage, decode, read_limited
    from zizi.data.phash import hamming, phash

    try:
        data = read_limited(Path(photo))
        digest = hashlib.sha256(data).hexdigest()
        im = decode(data, suffix=Path(photo).suffix).image
    except SkipImage as e:
        raise DatasetError(f"cannot read {printable(photo)}: {e.reason}") from None
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


def find(
    dataset: Path, target: str, max_bits: int = MATCH_BITS, records: list[ImageRecord] | None = None
) -> list[Match]:
    """`target` is a photo file (matched by content) or a source name / glob."""
    if records is None:
        records = load_manifest(dataset).images
    path = Path(target)
    if path.is_file():
        return find_by_photo(dataset, records, path, max_bits)
    return find_by_name(records, target)


def via_skipped(manifest: Manifest, dataset: Path, target: str) -> list[Match]:
    """A source skipped by `prepare` as a duplicate (report.json `duplicate_of`) stands
    for the image it duplicates: naming it names that image."""
    if Path(target).is_file():
        return []
    pattern = nfc(target)
    out = []
    for src, owner in _skipped_duplicates(dataset):
        if name_matches(src, pattern):
            out += [
                Match(r.file, r.source, f"{src} was skipped as its duplicate", 0)
                for r in manifest.images
                if r.source == owner
            ]
    return out


def same_picture(manifest: Manifest, matches: dict[str, Match]) -> dict[str, Match]:
    """Images still in the set that are the same picture as a match: made from the same
    source bytes, or within the dataset's near-duplicate distance (one step from a
    match, not a chain, so unrelated pictures are not swept along)."""
    from zizi.data.phash import NEAR_DUPLICATE_BITS, hamming

    near = int(manifest.options.get("near_duplicate_bits", NEAR_DUPLICATE_BITS))
    extra: dict[str, Match] = {}
    by_file = {r.file: r for r in manifest.images}
    seeds = [by_file[f] for f in matches if f in by_file]
    for r in manifest.images:
        if r.file in matches:
            continue
        for m in seeds:
            if r.source_sha256 == m.source_sha256:
                extra[r.file] = Match(r.file, r.source, f"same source bytes as {m.file}", 0)
                break
            d = hamming(int(r.phash, 16), int(m.phash, 16))
            if d <= near:
                extra[r.file] = Match(
                    r.file, r.source, f"near duplicate of {m.file} (phash {d})", d
                )
                break
    return extra


def _skipped_duplicates(dataset: Path) -> list[tuple[str, str]]:
    """(skipped source, the source it duplicates) from report.json."""
    try:
        data = read_member(Path(dataset), REPORT)  # a link out or a FIFO: one line, never read
        report = json.loads(data.decode("utf-8")) if data is not None else {}
        return [
            (s["source"], s["duplicate_of"])
            for s in report.get("skipped", [])
            if isinstance(s, dict) and s.get("duplicate_of")
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return []  # no report (or a damaged one): only the manifest's own duplicates


@dataclass
class Removal:
    removed: list[Match]  # images removed (or that would be, with dry_run)
    unmatched: list[str]  # targets that matched nothing now or before
    already: dict[str, str] = field(default_factory=dict)  # target -> when it was removed
    finished: list[str] = field(default_factory=list)  # files of an interrupted removal
    sheets_deleted: list[Path] = field(default_factory=list)  # contact sheets showing them
    warnings: list[str] = field(default_factory=list)  # unsafe manifest entries left alone


def remove(
    dataset: Path,
    targets: list[str],
    max_bits: int = MATCH_BITS,
    reason: str = "opt-out",
    dry_run: bool = False,
) -> Removal:
    """Remove every image matching any target, and every image that is the same picture.

    A journal, so that an opt-out always finishes: (1) the intent is recorded (the
    manifest is rewritten at once without the images and with log entries marked
    `pending`), (2) the files and any contact sheet showing them are deleted, (3) the
    entries are finalised (2 and 3: `zizi.data.manifest.finish_removals`). A kill or a failed
    delete after (1) is completed by a re-run or by any later command that reads the manifest
    (`load_manifest`).
    """
    dataset = Path(dataset)
    pending_before = {r["file"] for r in _raw_pending(dataset)}
    manifest = load_manifest(dataset)  # completes an interrupted removal first
    result = Removal([], [], warnings=manifest.warnings(), finished=sorted(pending_before))
    matches: dict[str, Match] = {}
    for t in targets:
        found = find(dataset, t, max_bits, manifest.images) + via_skipped(manifest, dataset, t)
        if not found:
            when = _removed_before(manifest, t)
            if when:
                result.already[t] = when
            else:
                result.unmatched.append(t)
        for m in found:
            matches.setdefault(m.file, m)
    if matches:
        matches.update(same_picture(manifest, matches))
    result.removed = sorted(matches.values(), key=lambda m: m.file)
    if dry_run or not matches:
        return result
    by_file = {r.file: r for r in manifest.images}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for m in result.removed:
        r = by_file[m.file]
        manifest.removed.append(
            {
                "file": r.file,
                "source": r.source,
                "source_sha256": r.source_sha256,
                "matched_by": m.how,
                "reason": reason,
                "removed_at": now,
                "pending": True,
            }
        )
    manifest.images = [r for r in manifest.images if r.file not in matches]
    save_manifest(dataset, manifest)  # (1) intent
    fault_point("remove-after-intent")
    result.sheets_deleted = finish_removals(dataset, manifest)  # (2) + (3)
    return result


def _raw_pending(dataset: Path) -> list[dict]:
    try:
        data = read_member(Path(dataset), MANIFEST)  # refused by load_manifest already if bad
        raw = json.loads(data.decode("utf-8")) if data is not None else {}
        return [r for r in raw.get("removed", []) if isinstance(r, dict) and r.get("pending")]
    except (OSError, ValueError, AttributeError, RecursionError):
        return []


def _removed_before(manifest: Manifest, target: str) -> str | None:
    """When a source named by `target` was removed earlier (for a clear re-run answer)."""
    if Path(target).is_file():
        return None
    pattern = nfc(target)
    for r in manifest.removed:
        if name_matches(str(r.get("source", "")), pattern):
            return str(r.get("removed_at", "earlier"))
    return None
