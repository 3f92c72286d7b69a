"""`prepare`: turn any folder of images into a clean, aligned, documented training set.

The source folder is only ever read. Work happens in `<out>.partial/`, renamed to `<out>`
at the very end, so a killed run never leaves a folder that looks complete. Files are
decoded in a process pool and results stream back (imap_unordered), so memory holds only
small per-image records; output numbers follow the sorted source paths, whatever order
the workers finish in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zizi.data.folder import MANIFEST, REPORT
from zizi.data.images import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    SkipImage,
    decode,
    file_sha256,
    too_large,
)
from zizi.data.manifest import (
    ImageRecord,
    Manifest,
    Skipped,
    credit_for,
    load_credits,
    read_ada_labels,
    save_manifest,
    with_ada_labels,
)
from zizi.data.phash import NEAR_DUPLICATE_BITS
from zizi.errors import DatasetError
from zizi.faults import fault_point
from zizi.files import check_replaceable, output_lock, write_json
from zizi.text import printable

AlignMode = Literal["face", "face-or-center", "center", "pad", "none"]
ALIGN_MODES: tuple[str, ...] = ("face", "face-or-center", "center", "pad", "none")
IMAGES_PER_FOLDER = 1000  # ADA dataset_tool layout: 00000/img00000000.png


@dataclass(frozen=True)
class PrepareConfig:
    src: Path  # folder to read (recursively); never written
    out: Path  # dataset folder to create
    resolution: int = 256  # output side in pixels, a power of two for StyleGAN
    align: AlignMode = "center"  # framing; "face" needs the zizi[faces] extra
    mirror: bool = False  # also write an x-flipped copy of every kept image
    dedupe: bool = False  # drop exact (pixel) and near (perceptual hash) duplicates
    credits: Path | None = None  # CSV: source, credit, licence, consent, label
    background: tuple[int, int, int] = (255, 255, 255)  # behind transparent pixels and pads
    min_size: int | None = None  # smallest accepted short side; None = resolution // 2
    min_face: int | None = None  # smallest face crop side in source px; None = resolution // 2
    landmarks: Literal["5", "68"] = "5"  # "5": CC0 model; "68": non-commercial (iBUG 300-W)
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger headers are refused as decompression bombs
    max_file_mb: int = DEFAULT_MAX_FILE_MB  # MiB; larger source files are skipped as "too large"
    follow_symlinks: bool = False  # read links that lead outside src (private folders, /proc)
    near_bits: int = NEAR_DUPLICATE_BITS  # phash Hamming distance counted as near duplicate
    workers: int = 0  # processes; 0 = all cores
    force: bool = False  # replace an existing non-empty out folder
    png_compress_level: int = 6  # zlib level; 1 is ~2× faster and ~15% larger

    def __post_init__(self) -> None:
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise DatasetError(f"--resolution must be a power of two ≥ 4, got {self.resolution}")
        if self.align not in ALIGN_MODES:
            raise DatasetError(f"--align must be one of {', '.join(ALIGN_MODES)}")

    @property
    def min_side(self) -> int:
        return self.resolution // 2 if self.min_size is None else self.min_size

    @property
    def min_face_px(self) -> int:
        return self.resolution // 2 if self.min_face is None else self.min_face


@dataclass
class PrepareResult:
    out: Path
    scanned: int  # entries looked at under src (files, links, loops)
    written: int  # output images (including mirrored copies)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    fallback: list[Skipped] = field(default_factory=list)  # face-or-center: centre-cropped, why


# ---------------------------------------------------------------------------------------
# Walking the source


def walk_sources(
    src: Path, follow_symlinks: bool = False, max_file_mb: int = DEFAULT_MAX_FILE_MB
) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """Every file under `src` as (relative POSIX path, path), sorted; plus what was
    skipped while walking (symlink loops, broken links, repeated files, non-images, links
    leading outside `src` unless `follow_symlinks`, files over `max_file_mb`)."""
    src = Path(src)
    root = src.resolve()
    found: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    seen_dirs: dict[tuple[int, int], str] = {}
    seen_files: dict[tuple[int, int], str] = {}

    def visit(folder: Path, rel: str) -> None:
        st = folder.stat()
        seen_dirs[(st.st_dev, st.st_ino)] = rel or "."
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            skipped.append(Skipped(rel or ".", f"unreadable folder: {e.strerror}"))
            return
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:  # bytes that are no UTF-8 (an old zip, a Windows disk)
                skipped.append(
                    Skipped(
                        printable(child),
                        "file name is not valid UTF-8 "
                        "(its bytes are shown escaped); rename the file",
                    )
                )
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                skipped.append(Skipped(child, "broken symlink or unreadable entry"))
                continue
            key = (st.st_dev, st.st_ino)
            if entry.is_symlink() and not follow_symlinks:
                target = Path(entry.path).resolve()
                if target != root and root not in target.parents:
                    skipped.append(
                        Skipped(
                            child,
                            f"symlink leading outside the source folder (to {target}); "
                            "pass --follow-symlinks to read it",
                        )
                    )
                    continue
            if entry.is_dir(follow_symlinks=True):
                if key in seen_dirs:
                    skipped.append(
                        Skipped(child, f"symlink loop (folder already read as {seen_dirs[key]})")
                    )
                    continue
                visit(Path(entry.path), child)
            elif entry.is_file(follow_symlinks=True):
                if key in seen_files:
                    skipped.append(
                        Skipped(child, f"same file as {seen_files[key]} (link)", seen_files[key])
                    )
                    continue
                seen_files[key] = child
                suffix = Path(entry.name).suffix.lower()
                if suffix not in IMAGE_SUFFIXES:
                    skipped.append(
                        Skipped(child, f"not an image file ({suffix or 'no extension'})")
                    )
                    continue
                why = too_large(st.st_size, max_file_mb)
                if why:
                    skipped.append(Skipped(child, why))
                    continue
                found.append((child, Path(entry.path)))
            else:
                skipped.append(Skipped(child, "not a regular file"))

    visit(src, "")
    found.sort(key=lambda t: t[0])
    return found, skipped


# ---------------------------------------------------------------------------------------
# Work done in each process


class OutputWriteError(DatasetError):
    """Writing into the dataset being built failed (a full disk, a read-only folder)."""


@dataclass
class _Crop:
    tmp: str  # file name under <partial>/_tmp
    face: int  # which crop of the source (face number; 0 for other framings)
    mirror: bool  # the x-flipped copy of crop `face`
    sha256: str
    phash: int
    transform: dict[str, Any]


@dataclass
class _Outcome:
    index: int
    rel: str
    crops: list[_Crop] = field(default_factory=list)
    skip: str | None = None
    source_sha256: str = ""
    source_phash: int = 0
    pixel_sha256: str = ""
    source_size: tuple[int, int] = (0, 0)
    fallback: str | None = None  # face-or-center: why this one was centre-cropped


class _Worker:
    """Per-process state: the config and, for face modes, the detector (built once)."""

    def __init__(self, cfg: PrepareConfig, tmp_dir: Path) -> None:
        self.cfg = cfg
        self.tmp_dir = tmp_dir
        self.finder = None
        if cfg.align in ("face", "face-or-center"):
            from zizi.data.align import FaceFinder

            self.finder = FaceFinder(landmarks=cfg.landmarks, min_face=cfg.min_face_px)

    def __call__(self, task: tuple[int, str, str]) -> _Outcome:
        index, rel, path = task
        out = _Outcome(index, rel)
        try:
            self._process(out, Path(path))
        except SkipImage as e:
            out.skip = e.reason
            out.crops = []
        except OutputWriteError:
            raise  # the output's disk, not this image: end the run
        except MemoryError:
            out.skip = "too large to decode in memory"
            out.crops = []
        except Exception as e:  # noqa: BLE001
            # A decoder bug on one odd file must not end a 50k-image run: report it.
            out.skip = f"could not process: {type(e).__name__}: {e}"
            out.crops = []
        return out

    def _process(self, out: _Outcome, path: Path) -> None:
        from zizi.data import crops
        from zizi.data.images import strip_to_png_bytes
        from zizi.data.phash import phash, pixel_sha256

        cfg = self.cfg
        face_mode = cfg.align in ("face", "face-or-center")
        # Streamed: the file is hashed in pieces and decoded from disk, so memory holds
        # the pixels, never a whole (possibly huge or sparse) file.
        try:
            with open(path, "rb") as f:
                why = too_large(os.fstat(f.fileno()).st_size, cfg.max_file_mb)
                if why:
                    raise SkipImage(why)  # grew since the walk
                out.source_sha256 = file_sha256(f)
                decoded = decode(
                    f,
                    suffix=path.suffix,
                    max_pixels=cfg.max_pixels,
                    background=cfg.background,
                    # JPEG draft decoding only where no landmarks need the full detail.
                    draft_min_side=None if face_mode else cfg.resolution,
                )
        except OSError as e:
            raise SkipImage(f"unreadable: {e.strerror or e}") from None
        im = decoded.image
        out.source_size = decoded.source_size
        out.pixel_sha256 = pixel_sha256(im) if cfg.dedupe else ""
        out.source_phash = phash(im)
        base = {
            "exif_orientation": decoded.oriented,
            "alpha_background": list(cfg.background) if decoded.had_alpha else None,
            "icc_to_srgb": decoded.icc_converted,
        }
        framed: list[tuple[Any, dict[str, Any]]] = []
        if face_mode:
            if min(im.size) < cfg.min_face_px:
                if cfg.align == "face":
                    w, h = decoded.source_size
                    raise SkipImage(
                        f"too small: {w}×{h} cannot hold a face of --min-face {cfg.min_face_px} px"
                    )
                out.fallback = f"too small for a face of --min-face {cfg.min_face_px} px"
            else:
                framed, out.fallback = self._faces(im, base)
        if not framed:
            # Size judged on the full-resolution source, not the JPEG draft.
            short = min(decoded.source_size)
            if short < cfg.min_side:
                w, h = decoded.source_size
                raise SkipImage(f"too small: {w}×{h}, short side < {cfg.min_side} px")
            if cfg.align in ("center", "face-or-center"):
                tr = {**base, "align": "center"}
                if cfg.align == "face-or-center":
                    tr["fallback"] = out.fallback
                framed = [(crops.center_crop(im, cfg.resolution), tr)]
            elif cfg.align == "pad":
                framed = [
                    (crops.pad_square(im, cfg.resolution, cfg.background), {**base, "align": "pad"})
                ]
            elif cfg.align == "none":
                if im.width != im.height:
                    raise SkipImage(
                        f"not square ({im.width}×{im.height}); use --align center or pad"
                    )
                framed = [(crops.resize_square(im, cfg.resolution), {**base, "align": "none"})]
        for k, (crop, transform) in enumerate(framed):
            copies = [(crop, transform)]
            if cfg.mirror:
                from PIL import Image

                copies.append(
                    (crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT), {**transform, "mirror": True})
                )
            for m, (img, tr) in enumerate(copies):
                png = strip_to_png_bytes(img, cfg.png_compress_level)
                name = f"{out.index:07d}-{k:03d}-{m}.png"
                try:
                    (self.tmp_dir / name).write_bytes(png)
                except OSError as e:
                    raise OutputWriteError(f"{e.strerror or e}") from None
                out.crops.append(
                    _Crop(name, k, m == 1, hashlib.sha256(png).hexdigest(), phash(img), tr)
                )

    def _faces(
        self, im: Any, base: dict[str, Any]
    ) -> tuple[list[tuple[Any, dict[str, Any]]], str | None]:
        """Aligned crops of the faces big enough; with none, why (for the fallback)."""
        from zizi.data.align import align, ffhq_quad, quad_size

        cfg = self.cfg
        faces = self.finder.find(im)
        framed = []
        too_small = 0
        for face in faces:
            quad = ffhq_quad(face)
            if quad_size(quad) < cfg.min_face_px:
                too_small += 1
                continue
            transform = {
                **base,
                "align": "face",
                "landmarks": cfg.landmarks,
                "quad": [[round(float(v), 2) for v in p] for p in quad],
                "detector_score": round(face.score, 3),
            }
            framed.append((align(im, quad, cfg.resolution), transform))
        why = None
        if not framed:
            why = (
                f"too small: {too_small} face{'s' if too_small > 1 else ''} found, all "
                f"smaller than --min-face {cfg.min_face_px} px"
                if too_small
                else "no face found"
            )
            if cfg.align == "face":
                raise SkipImage(why)
        return framed, why


_WORKER: _Worker | None = None  # one per pool process, set by the pool initializer


def _init_worker(cfg: PrepareConfig, tmp_dir: Path) -> None:
    global _WORKER
    _WORKER = _Worker(cfg, tmp_dir)


def _run_task(task: tuple[int, str, str]) -> _Outcome:
    assert _WORKER is not None
    return _WORKER(task)


def _outcomes(
    cfg: PrepareConfig, tmp_dir: Path, tasks: list[tuple[int, str, str]]
) -> Iterator[_Outcome]:
    workers = cfg.workers or os.cpu_count() or 1
    workers = min(workers, max(1, len(tasks)))
    if workers == 1:
        worker = _Worker(cfg, tmp_dir)
        yield from map(worker, tasks)
        return
    import multiprocessing

    chunk = max(1, min(16, len(tasks) // (workers * 8)))
    with multiprocessing.get_context().Pool(
        workers, initializer=_init_worker, initargs=(cfg, tmp_dir)
    ) as pool:
        yield from pool.imap_unordered(_run_task, tasks, chunksize=chunk)


# ---------------------------------------------------------------------------------------
# The whole run


def check_paths(src: Path, out: Path, force: bool) -> tuple[Path, Path]:
    src, out = Path(src).resolve(), Path(out).resolve()
    if not src.is_dir():
        raise DatasetError(f"source folder {src} does not exist or is not a folder")
    if out == src or src in out.parents:
        raise DatasetError(
            f"refusing to write into the source folder {src}: choose --out outside it"
        )
    if out in src.parents:
        raise DatasetError(f"--out {out} contains the source folder; choose a separate folder")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} is a file; a dataset is a folder: choose another --out")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise DatasetError(f"{out} exists and is not empty; pass --force to replace it")
        # --force deletes OUT: only an earlier dataset, never the folder the user is in,
        # one of its parents, their home, or a folder of other files
        check_replaceable(
            out, lambda p: (p / MANIFEST).is_file(), what="dataset", error=DatasetError
        )
    return src, out


def prepare(
    cfg: PrepareConfig, progress: Callable[[int, int], None] | None = None
) -> PrepareResult:
    """Build the dataset described by `cfg`; `progress(done, total)` after each file."""
    started = time.perf_counter()
    src, out = check_paths(cfg.src, cfg.out, cfg.force)
    credits = load_credits(cfg.credits) if cfg.credits else {}
    if src.is_dir():  # an S2A dataset_tool folder keeps its class labels (the CSV wins)
        credits = with_ada_labels(credits, read_ada_labels(src))
    if cfg.align in ("face", "face-or-center"):
        from zizi.data.align import FaceFinder

        FaceFinder(landmarks=cfg.landmarks)  # fail now, in this process, if the extra is missing

    with output_lock(
        out, error=DatasetError, what="the dataset"
    ):  # two prepares on one --out: one clear line
        return _prepare_locked(cfg, src, out, credits, progress, started)


def _prepare_locked(
    cfg: PrepareConfig,
    src: Path,
    out: Path,
    credits: dict,
    progress: Callable[[int, int], None] | None,
    started: float,
) -> PrepareResult:
    recover_swap(out)  # holding the lock, so only a dead run's half-done swap is finished
    check_paths(cfg.src, cfg.out, cfg.force)  # again, holding the lock: a run that just ended
    sources, skipped = walk_sources(src, cfg.follow_symlinks, cfg.max_file_mb)
    scanned = len(sources) + len(skipped)
    partial = out.with_name(out.name + ".partial")
    try:
        return _build(cfg, src, out, partial, sources, skipped, scanned, credits, progress, started)
    except (OSError, OutputWriteError) as e:
        # A full disk or an unwritable --out: don't leave a dataset missing the images
        # that failed (nor a partial folder filling the disk); an existing OUT is kept.
        shutil.rmtree(partial, ignore_errors=True)
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise DatasetError(
            f"could not write the dataset to {out}: {why}; nothing was written"
        ) from e


def _build(
    cfg: PrepareConfig,
    src: Path,
    out: Path,
    partial: Path,
    sources: list[tuple[str, Path]],
    skipped: list[Skipped],
    scanned: int,
    credits: dict,
    progress: Callable[[int, int], None] | None,
    started: float,
) -> PrepareResult:
    if partial.exists():
        shutil.rmtree(partial)  # left by a killed run
    tmp_dir = partial / "_tmp"
    tmp_dir.mkdir(parents=True)

    tasks = [(i, rel, str(path)) for i, (rel, path) in enumerate(sources)]
    outcomes: list[_Outcome | None] = [None] * len(tasks)
    for done, outcome in enumerate(_outcomes(cfg, tmp_dir, tasks), start=1):
        outcomes[outcome.index] = outcome
        if progress is not None:
            progress(done, len(tasks))

    records, more_skipped = _number_and_dedupe(cfg, partial, outcomes, credits)
    skipped.extend(more_skipped)
    skipped.sort(key=lambda s: s.source)
    shutil.rmtree(tmp_dir)
    if not records:
        shutil.rmtree(partial)
        raise DatasetError(_nothing_usable(src, skipped))

    manifest = Manifest(
        resolution=cfg.resolution,
        align=cfg.align,
        images=records,
        options={
            "landmarks": cfg.landmarks if cfg.align.startswith("face") else None,
            "mirror": cfg.mirror,
            "dedupe": cfg.dedupe,
            "background": list(cfg.background),
            "min_size": cfg.min_side,
            "near_duplicate_bits": cfg.near_bits,
        },
    )
    save_manifest(partial, manifest)
    fallback = [
        Skipped(o.rel, o.fallback)
        for o in outcomes
        if o is not None and o.fallback and o.skip is None and cfg.align == "face-or-center"
    ]
    write_json(
        partial / REPORT,
        {
            "scanned": len(sources)
            + sum(1 for s in skipped if s.reason.startswith("not an image file")),
            "written": len(records),
            "skipped": [s.__dict__ for s in skipped],
            "fallback_count": len(fallback),
            "fallback": [{"source": f.source, "reason": f.reason} for f in fallback],
        },
    )
    swap_into_place(partial, out)
    return PrepareResult(
        out=out,
        scanned=scanned,
        written=len(records),
        skipped=skipped,
        seconds=time.perf_counter() - started,
        fallback=fallback,
    )


def _side_name(out: Path) -> Path:
    return out.with_name(out.name + ".replaced")


def swap_into_place(partial: Path, out: Path) -> None:
    """Put the new dataset at `out` by renames, so a kill at any moment leaves either the
    old dataset or the new one findable: the old goes to a side name, the new is renamed
    into place, then the old is deleted. `recover_swap` finishes a half-done swap."""
    side = _side_name(out)
    if out.exists() or out.is_symlink():
        if side.exists():
            shutil.rmtree(side)  # an older swap's leftover, already superseded
        os.replace(out, side)
        fault_point("prepare-after-old-aside")
    os.replace(partial, out)
    fault_point("prepare-after-new-in-place")
    if side.exists():
        shutil.rmtree(side)


def recover_swap(out: Path) -> None:
    """Finish a swap that a killed `prepare --force` left half done: with the new set in
    place the old one is deleted; without it the old one goes back to its name."""
    side = _side_name(out)
    if not side.is_dir() or side.is_symlink():
        return
    if out.exists():
        shutil.rmtree(side)
    else:
        os.replace(side, out)


def _nothing_usable(src: Path, skipped: list[Skipped]) -> str:
    if not skipped:
        return f"no files found in {src}; nothing was written"
    kinds: dict[str, int] = {}
    for sk in skipped:
        kind = sk.reason.split(":")[0].split(" of ")[0].split(" (")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    why = ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    files = "the 1 file" if len(skipped) == 1 else f"the {len(skipped)} files"
    return f"none of {files} in {src} gave an image ({why}); nothing was written"


def _number_and_dedupe(
    cfg: PrepareConfig,
    partial: Path,
    outcomes: list[_Outcome | None],
    credits: dict,
) -> tuple[list[ImageRecord], list[Skipped]]:
    """Walk outcomes in source order: drop duplicates, give numbers, move files in place."""
    import numpy as np

    from zizi.data.phash import nearest

    skipped: list[Skipped] = []
    records: list[ImageRecord] = []
    by_pixels: dict[str, str] = {}
    kept_hashes = np.zeros(sum(len(o.crops) for o in outcomes if o), dtype=np.uint64)
    kept_owner: list[str] = []
    tmp_dir = partial / "_tmp"
    for o in outcomes:
        assert o is not None
        if o.skip is not None:
            skipped.append(Skipped(o.rel, o.skip))
            continue
        if cfg.dedupe:
            first = by_pixels.setdefault(o.pixel_sha256, o.rel)
            if first != o.rel:
                skipped.append(Skipped(o.rel, f"duplicate of {first} (identical pixels)", first))
                continue
        credit = credit_for(credits, o.rel)
        dropped: set[int] = set()
        for crop in o.crops:
            if crop.face in dropped:
                continue  # the mirror of a dropped crop
            if cfg.dedupe and not crop.mirror:
                j, dist = nearest(crop.phash, kept_hashes[: len(kept_owner)])
                if dist <= cfg.near_bits:
                    owner = kept_owner[j]
                    dropped.add(crop.face)
                    what = f"face {crop.face}" if crop.transform["align"] == "face" else "image"
                    skipped.append(
                        Skipped(
                            o.rel,
                            f"near duplicate of {owner} ({what}, phash distance {dist})",
                            owner,
                        )
                    )
                    continue
                kept_hashes[len(kept_owner)] = np.uint64(crop.phash)
                kept_owner.append(o.rel)
            n = len(records)
            name = f"{n // IMAGES_PER_FOLDER:05d}/img{n:08d}.png"
            (partial / name).parent.mkdir(exist_ok=True)
            os.replace(tmp_dir / crop.tmp, partial / name)
            records.append(
                ImageRecord(
                    file=name,
                    source=o.rel,
                    source_sha256=o.source_sha256,
                    source_phash=f"{o.source_phash:016x}",
                    sha256=crop.sha256,
                    phash=f"{crop.phash:016x}",
                    source_size=o.source_size,
                    transform=crop.transform,
                    credit=credit.credit,
                    licence=credit.licence,
                    consent=credit.consent,
                    label=credit.label,
                )
            )
    return records, skipped
