"""A prepared dataset's records: manifest.json, its opt-out log, dataset.json's labels.

- `manifest.json`: one record per output image (where it came from, both hashes, the
  transform, credit/licence/consent) plus the opt-out removals. Provenance, not pixels.
  A removal is logged before its files are deleted (`zizi.data.optout`); every reader
  finishes a removal an interruption left pending (`load_manifest`, `finish_removals`).
- `dataset.json`: the ADA tools' label file, `{"labels": [[name, label], ...] | null}`.
- credits CSVs, matched to sources by path or file name.

The folder's file names and reading a received dataset only inside itself:
`zizi.data.folder`.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zizi.data.folder import ADA_LABELS, MANIFEST, MemberCheck, has_manifest, read_member
from zizi.data.sheets import forget_on_sheets
from zizi.errors import DatasetError
from zizi.faults import fault_point
from zizi.files import write_json
from zizi.text import nfc, printable

FORMAT_VERSION = 1


@dataclass
class ImageRecord:
    file: str  # output path relative to the dataset, e.g. "00000/img00000000.png"
    source: str  # source path relative to SRC (POSIX separators)
    source_sha256: str  # of the source file's bytes
    source_phash: str  # 16 hex digits, perceptual hash of the upright source
    sha256: str  # of the output PNG file
    phash: str  # 16 hex digits, perceptual hash of the output
    source_size: tuple[int, int]  # (width, height) as stored in the source
    transform: dict[str, Any]  # align mode, crop/quad, orientation, alpha, icc, mirror
    credit: str | None = None
    licence: str | None = None
    consent: str | None = None
    label: int | None = None


@dataclass
class Skipped:
    source: str
    reason: str
    duplicate_of: str | None = None


@dataclass
class Manifest:
    resolution: int
    align: str
    images: list[ImageRecord]
    removed: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    format: str = "zizi-dataset"
    version: int = FORMAT_VERSION
    # Entries whose `file` points outside the dataset (`..`, absolute, a symlink out):
    # (raw record, why). Never read or deleted; kept as they were when the manifest is
    # saved, and reported by every command that reads the manifest.
    unsafe: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("unsafe")
        d["images"].extend(raw for raw, _ in self.unsafe)
        return {"format": d.pop("format"), "version": d.pop("version"), **d}

    @property
    def pending_removals(self) -> list[dict[str, Any]]:
        """Removals recorded but whose files may not all be deleted yet (see optout)."""
        return [r for r in self.removed if r.get("pending")]

    def warnings(self) -> list[str]:
        """One line per manifest entry that was left alone because it is unsafe."""
        return [
            f"manifest entry {printable(raw.get('file'))!s} left alone: {why}"
            for raw, why in self.unsafe
        ]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Manifest:
        if d.get("format") != "zizi-dataset":
            raise DatasetError("manifest.json is not a zizi dataset manifest")
        if d.get("version", 0) > FORMAT_VERSION:
            raise DatasetError(
                f"manifest.json is format version {d['version']}; this zizi reads "
                f"up to {FORMAT_VERSION}: upgrade zizi"
            )
        images = [_record(r) for r in d["images"]]
        removed = d.get("removed", [])
        if not isinstance(removed, list) or not all(isinstance(e, dict) for e in removed):
            raise ValueError("the opt-out log is not a list of records")
        if not isinstance(d.get("options", {}), dict):
            raise ValueError("options is not a mapping")
        return cls(
            resolution=d["resolution"],
            align=d["align"],
            images=images,
            removed=removed,
            options=d.get("options", {}),
        )


def _record(r: dict[str, Any]) -> ImageRecord:
    """One image record, its fields checked: a crafted manifest is "damaged", never a
    traceback later in inspect or remove."""
    rec = ImageRecord(**{**r, "source_size": tuple(r["source_size"])})
    for name in ("source_phash", "phash"):
        value = getattr(rec, name)
        if not isinstance(value, str) or len(value) != 16:
            raise ValueError(f"{name} of {rec.file!r} is not 16 hex digits")
        int(value, 16)
    if not isinstance(rec.source, str) or not isinstance(rec.transform, dict):
        raise ValueError(f"record {rec.file!r} has no source or transform")
    if len(rec.source_size) != 2 or not all(isinstance(v, int) for v in rec.source_size):
        raise ValueError(f"source_size of {rec.file!r} is not two integers")
    return rec


def load_manifest(dataset: Path, finish: bool = True) -> Manifest:
    """Read DATASET/manifest.json, setting aside entries that point outside the dataset.

    With `finish`, a removal that was recorded but interrupted (kill -9, a failed delete)
    is completed first: its files are deleted and the record finalised (`optout`).
    """
    path = Path(dataset) / MANIFEST
    data = read_member(dataset, MANIFEST) if os.path.lexists(path) else None
    if data is None:
        raise DatasetError(
            f"{printable(dataset)} has no {MANIFEST}: it was not made by `zizi dataset prepare`"
        )
    try:
        raw = json.loads(data.decode("utf-8"))
        if not isinstance(raw, dict) or not isinstance(raw.get("images"), list):
            raise TypeError("no list of images")
        checker = MemberCheck(Path(dataset))
        kept, unsafe = [], []
        for r in raw["images"]:
            why = checker.why_unsafe(r.get("file") if isinstance(r, dict) else None)
            if why is None:
                kept.append(r)
            else:
                unsafe.append((r if isinstance(r, dict) else {"file": repr(r)}, why))
        manifest = Manifest.from_json({**raw, "images": kept})
        manifest.unsafe = unsafe
    except (
        json.JSONDecodeError,
        KeyError,
        TypeError,
        AttributeError,
        ValueError,
        RecursionError,
    ) as e:  # (UnicodeDecodeError is a ValueError)
        raise DatasetError(
            f"{printable(path)} is damaged ({printable(e)}); re-run `zizi dataset prepare`"
        ) from e
    if finish and manifest.pending_removals:
        finish_removals(Path(dataset), manifest)
    return manifest


def finish_removals(dataset: Path, manifest: Manifest) -> list[Path]:
    """Steps (2) and (3) of a removal: delete the files of every pending log entry and
    the contact sheets that show them, then finalise the entries. Paths outside the
    dataset are never touched. Returns the contact sheets deleted."""
    dataset = Path(dataset)
    checker = MemberCheck(dataset)
    pending = manifest.pending_removals
    for entry in pending:
        path = checker.path(entry.get("file"))
        if path is None:
            continue  # a crafted entry: left alone (and reported by load_manifest)
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            pass  # not an image file of ours: left alone
        except OSError as e:
            raise DatasetError(
                f"could not delete {printable(path)}: {e.strerror or e}; the removal is "
                "recorded and the next zizi command on this dataset will finish it"
            ) from e
    sheets = forget_on_sheets(dataset, [str(e.get("file")) for e in pending])
    fault_point("remove-before-finalise")
    for entry in pending:
        entry.pop("pending", None)
    save_manifest(dataset, manifest)
    return sheets


def save_manifest(dataset: Path, manifest: Manifest) -> None:
    write_json(Path(dataset) / MANIFEST, manifest.to_json())
    write_ada_labels(dataset, manifest.images)


def write_ada_labels(dataset: Path, images: list[ImageRecord]) -> None:
    has_labels = images and all(r.label is not None for r in images)
    labels = [[r.file, r.label] for r in images] if has_labels else None
    write_json(Path(dataset) / ADA_LABELS, {"labels": labels})


@dataclass(frozen=True)
class Credit:
    credit: str | None = None
    licence: str | None = None
    consent: str | None = None
    label: int | None = None


_LICENCE_KEYS = ("licence", "license")


def load_credits(path: Path) -> dict[str, Credit]:
    """Read a credits CSV: a `source` (or `file`) column plus any of credit, licence
    (or license), consent, label. Keys are the source path as written in the CSV."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"cannot read credits CSV {path}: {e.strerror}") from e
    except UnicodeDecodeError:
        raise DatasetError(
            f"{path} is not UTF-8 text; save it as 'CSV UTF-8' (in Excel or LibreOffice: "
            "Save As, CSV, character set UTF-8)"
        ) from None
    except csv.Error as e:
        raise DatasetError(f"{path} is not a readable CSV file: {e}") from e
    if not rows:
        return {}
    cols = {c.strip().lower(): c for c in rows[0] if c}
    key = cols.get("source") or cols.get("file") or cols.get("filename")
    if key is None:
        raise DatasetError(
            f"{path} needs a 'source' column naming each image (relative path or file name); "
            f"found columns {sorted(cols)}"
        )
    lic = next((cols[k] for k in _LICENCE_KEYS if k in cols), None)
    out: dict[str, Credit] = {}
    for n, row in enumerate(rows, start=2):
        name = (row.get(key) or "").strip()
        if not name:
            continue
        label = row.get(cols["label"], "").strip() if "label" in cols else ""
        try:
            label_int = int(label) if label else None
        except ValueError:
            raise DatasetError(f"{path} line {n}: label {label!r} is not an integer") from None
        out[nfc(name)] = Credit(
            credit=_cell(row, cols.get("credit")),
            licence=_cell(row, lic),
            consent=_cell(row, cols.get("consent")),
            label=label_int,
        )
    return out


def _cell(row: dict[str, str], col: str | None) -> str | None:
    if col is None:
        return None
    v = (row.get(col) or "").strip()
    return v or None


def read_ada_labels(folder: Path) -> dict[str, int]:
    """Class labels from a source folder's `dataset.json` (S2A's dataset_tool layout),
    keyed by the image's relative path; {} when the folder has none or `labels` is null."""
    path = Path(folder) / ADA_LABELS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read the labels in {path}: {e}") from e
    labels = data.get("labels") if isinstance(data, dict) else None
    if labels is None:
        return {}
    out: dict[str, int] = {}
    for entry in labels if isinstance(labels, list) else [labels]:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise DatasetError(f"{path}: each label must be [file name, class], got {entry!r}")
        name, label = entry
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise DatasetError(
                f"{path}: the label of {name} is {label!r}; only class labels "
                "(whole numbers from 0) are carried into a prepared dataset"
            )
        out[nfc(name.replace("\\", "/"))] = label
    return out


def with_ada_labels(credits: dict[str, Credit], labels: dict[str, int]) -> dict[str, Credit]:
    """`credits` with each source's `dataset.json` label where the credits CSV gives none."""
    out = dict(credits)
    for source, label in labels.items():
        credit = credit_for(out, source)
        if credit.label is None:
            out[source] = replace(credit, label=label)
    return out


def credit_for(credits: dict[str, Credit], source: str) -> Credit:
    """Match by relative path first, then by file name (both NFC-normalised)."""
    source = nfc(source)
    if source in credits:
        return credits[source]
    return credits.get(source.rsplit("/", 1)[-1], Credit())


def dataset_files(folder: Path) -> list[str]:
    """Image files of a dataset folder, relative POSIX paths: the manifest's list for a
    prepared dataset (never a folder listing: files of an interrupted removal are not
    in it), otherwise every image file below `folder`, sorted."""
    folder = Path(folder)
    if has_manifest(folder):
        return [r.file for r in load_manifest(folder, finish=False).images]
    return plain_image_files(folder)


def plain_image_files(folder: Path) -> list[str]:
    """Image files below a folder that has no manifest, sorted relative POSIX paths.
    Symlinked folders are not followed (a `proc -> /proc` link must not walk the
    system), and the filesystem root is refused outright."""
    from zizi.data.images import IMAGE_SUFFIXES

    root = Path(folder).resolve()
    if root == Path(root.anchor):
        raise DatasetError(
            f"{printable(folder)} is the root of the filesystem, not a dataset folder: give "
            "the folder made by `zizi dataset prepare` or a folder of images"
        )
    out = []
    for base, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        rel = Path(base).relative_to(folder)
        for n in names:
            p = Path(base) / n
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.is_symlink():
                out.append((rel / n).as_posix())
    return sorted(out)
