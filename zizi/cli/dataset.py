"""`zizi dataset`: prepare, inspect and curate training image folders."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import progress_bar
from zizi.data.images import DEFAULT_MAX_FILE_MB
from zizi.text import plural, printable

FACE_HELP = """Face alignment (--align face / face-or-center) needs `pip install 'zizi[faces]'`
(dlib-bin + face_recognition_models; model files ship in the wheel, nothing is downloaded).
Models and licences: dlib's HOG face detector (Boost Software License); landmarks
--landmarks 5 (default): shape_predictor_5_face_landmarks, CC0, free for artistic and
commercial use; --landmarks 68: shape_predictor_68_face_landmarks, trained on iBUG 300-W,
whose licence excludes commercial use."""


@click.group("dataset")
def dataset() -> None:
    """Prepare, inspect and curate training image folders."""


def _rgb(value: str) -> tuple[int, int, int]:
    v = value.strip().lstrip("#")
    if len(v) != 6:
        raise click.BadParameter(
            "use a hex colour such as ffffff or 000000", param_hint="--background"
        )
    try:
        return tuple(int(v[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        raise click.BadParameter(
            "use a hex colour such as ffffff or 000000", param_hint="--background"
        ) from None


@dataset.command("prepare", epilog=FACE_HELP)
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Dataset folder to create, e.g. datasets/zizi-drag.",
)
@click.option(
    "--resolution",
    type=int,
    default=256,
    show_default=True,
    help="Output side in pixels (a power of two).",
)
@click.option(
    "--align",
    type=click.Choice(["face", "face-or-center", "center", "pad", "none"]),
    default="center",
    show_default=True,
    help="face: FFHQ-style crop per face (no face -> reported); face-or-center: "
    "centre crop when no face (counted and listed); center: centre square; "
    "pad: whole image on --background; none: square sources only, resized.",
)
@click.option(
    "--landmarks",
    type=click.Choice(["5", "68"]),
    default="5",
    show_default=True,
    help="Landmark model for --align face: 5 (CC0) or 68 (non-commercial licence).",
)
@click.option("--mirror", is_flag=True, help="Also write an x-flipped copy of every image.")
@click.option(
    "--dedupe", is_flag=True, help="Drop exact (same pixels) and near (perceptual hash) duplicates."
)
@click.option(
    "--credits",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with columns source, credit, licence, consent[, label].",
)
@click.option(
    "--background",
    default="ffffff",
    show_default=True,
    help="Hex colour behind transparent pixels and --align pad borders.",
)
@click.option(
    "--min-size",
    type=click.IntRange(min=1),
    default=None,
    help="Smallest source short side accepted [default: resolution/2].",
)
@click.option(
    "--min-face",
    type=click.IntRange(min=1),
    default=None,
    help="Smallest face (crop side in source pixels) [default: resolution/2].",
)
@click.option(
    "--max-file-mb",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILE_MB,
    show_default=True,
    help="Source files larger than this many MiB are skipped as too large.",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Also read symlinks that lead outside SRC (skipped and reported otherwise).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes; 0 = all cores.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty.")
def prepare_cmd(
    src: Path,
    out: Path,
    resolution: int,
    align: str,
    landmarks: str,
    mirror: bool,
    dedupe: bool,
    credits: Path | None,
    background: str,
    min_size: int | None,
    min_face: int | None,
    max_file_mb: int,
    follow_symlinks: bool,
    workers: int,
    force: bool,
) -> None:
    """Turn the image folder SRC into a clean training set (SRC is only read).

    Writes OUT/00000/img00000000.png..., dataset.json (ADA labels), manifest.json (source,
    hashes, transform, credit per image) and report.json (every skipped file and why).
    Outputs carry no EXIF, GPS or XMP.
    """
    from zizi.data.prepare import PrepareConfig, prepare

    cfg = PrepareConfig(
        src=src,
        out=out,
        resolution=resolution,
        align=align,
        landmarks=landmarks,
        mirror=mirror,
        dedupe=dedupe,
        credits=credits,
        background=_rgb(background),
        min_size=min_size,
        min_face=min_face,
        max_file_mb=max_file_mb,
        follow_symlinks=follow_symlinks,
        workers=workers,
        force=force,
    )
    with progress_bar(total=0, unit="img", desc="prepare") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = prepare(cfg, progress=progress)
    fell_back = ""
    if align == "face-or-center":
        fell_back = f"; {len(result.fallback)} centre-cropped (no usable face)"
    click.echo(
        f"{plural(result.written, 'image')} written to {printable(result.out)} "
        f"({result.seconds:.1f} s); {len(result.skipped)} skipped{fell_back}"
    )
    for s in result.skipped[:SKIPPED_SHOWN]:
        click.echo(f"  skipped {printable(s.source)}: {printable(s.reason)}")
    if len(result.skipped) > SKIPPED_SHOWN:
        click.echo(f"  ... and {len(result.skipped) - SKIPPED_SHOWN} more skipped")
    for line in _by_reason([(s.source, s.reason) for s in result.fallback], "centre-cropped"):
        click.echo(line)
    if result.skipped or result.fallback:
        click.echo(f"  (also in {printable(result.out / 'report.json')})")


FALLBACK_EXAMPLES = 3  # source names shown per reason; the rest are counted
# skipped files listed one per line (each reason is its own: "duplicate of X"); the rest
# counted, all of them in report.json (a folder of phone photos can skip hundreds)
SKIPPED_SHOWN = 12


def _by_reason(
    items: list[tuple[str, str]], verb: str, listed_in: str = "report.json"
) -> list[str]:
    """Source files grouped by why: a count and a few names per reason, not one line per
    file (a folder of 500 non-face images would otherwise print 500 lines)."""
    groups: dict[str, list[str]] = {}
    for name, why in items:
        names = groups.setdefault(why, [])
        if name not in names:  # `--mirror` makes two images of one source: name it once
            names.append(name)
    lines = []
    for why, names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(printable(n) for n in names[:FALLBACK_EXAMPLES])
        more = (
            f" and {len(names) - FALLBACK_EXAMPLES} more" if len(names) > FALLBACK_EXAMPLES else ""
        )
        lead = f"{verb} " if verb else ""
        lines.append(f"  {lead}{len(names)} ({printable(why)}): {shown}{more}")
    if any(len(n) > FALLBACK_EXAMPLES for n in groups.values()):
        lines.append(f"  (every file and its reason: {listed_in})")
    return lines


@dataset.command("inspect")
@click.argument(
    "dataset_dir", metavar="DATASET", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--sheets",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for contact-NNN.png pages [default: DATASET-contact next to it].",
)
@click.option("--no-sheets", is_flag=True, help="Skip the contact sheets.")
@click.option("--per-page", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--thumb",
    type=click.IntRange(min=16),
    default=128,
    show_default=True,
    help="Thumbnail side in pixels.",
)
def inspect_cmd(
    dataset_dir: Path, sheets: Path | None, no_sheets: bool, per_page: int, thumb: int
) -> None:
    """Counts, sizes, framing, skipped files, duplicate groups, colour and contact sheets."""
    from zizi.data.inspect import inspect_dataset

    if sheets is None and not no_sheets:
        here = dataset_dir.resolve()
        sheets = here.with_name(here.name + "-contact") if here.name else None
    s = inspect_dataset(
        dataset_dir, sheet_dir=None if no_sheets else sheets, per_page=per_page, thumb=thumb
    )
    for w in s.warnings:
        click.echo(f"warning: {w}", err=True)
    sources = f" from {plural(s.sources, 'source')}" if s.sources is not None else ""
    click.echo(
        f"{printable(s.path)}: {plural(s.images, 'image')}{sources}"
        + (f", align {s.align}" if s.align else "")
    )
    click.echo("sizes: " + (", ".join(f"{k} ×{v}" for k, v in s.sizes.items()) or "none"))
    if s.framing:
        click.echo("framing: " + ", ".join(f"{k} ×{v}" for k, v in sorted(s.framing.items())))
    if s.align == "face-or-center":
        click.echo(f"centre-cropped (no usable face): {len(s.fallback)}")
        for line in _by_reason(s.fallback, "", listed_in="manifest.json"):
            click.echo(line)
    if s.removed:
        click.echo(f"removed (opt-out): {s.removed}")
    click.echo(f"skipped at prepare: {len(s.skipped)}")
    for kind, n in sorted(s.skip_reasons.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {n:5d}  {printable(kind)}")
    for item in s.skipped[:SKIPPED_SHOWN]:
        click.echo(f"  {printable(item['source'])}: {printable(item['reason'])}")
    if len(s.skipped) > SKIPPED_SHOWN:
        click.echo(f"  ... and {len(s.skipped) - SKIPPED_SHOWN} more (report.json)")
    click.echo(f"duplicate groups: {len(s.duplicate_groups)}")
    for g in s.duplicate_groups:
        click.echo("  " + "  =  ".join(printable(x) for x in g))
    if s.colour:
        c = s.colour
        click.echo(
            f"colour: mean RGB {c.mean_rgb}, std {c.std_rgb}, luma {c.mean_luma}, "
            f"saturation {c.mean_saturation}, greyscale images {c.greyscale_images}"
        )
    for p in s.contact_sheets:
        click.echo(f"contact sheet: {printable(p)}")
    for p in s.stale_sheets:
        click.echo(f"deleted stale contact sheet: {printable(p)}")


@dataset.command("remove")
@click.argument(
    "dataset_dir", metavar="DATASET", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("targets", metavar="SOURCE_OR_IMAGE...", nargs=-1, required=True)
@click.option(
    "--max-distance",
    type=click.IntRange(0, 64),
    default=10,
    show_default=True,
    help="Perceptual-hash bits (of 64) within which a photo counts as a match.",
)
@click.option(
    "--reason",
    default="opt-out",
    show_default=True,
    help="Recorded in the manifest with each removal.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; change nothing.")
def remove_cmd(
    dataset_dir: Path, targets: tuple[str, ...], max_distance: int, reason: str, dry_run: bool
) -> None:
    """Remove a person's images: by source name (path, file name or glob) or by a photo.

    Every image that is the same picture goes too: the image a skipped duplicate of the
    named source stands for, and exact or near duplicates still in the set. Each removal
    (file, source, hash, how it matched, when) is recorded in manifest.json, and contact
    sheets showing a removed image are deleted. An interrupted removal is finished by the
    next zizi command on the dataset.
    """
    from zizi.data.optout import remove

    r = remove(dataset_dir, list(targets), max_bits=max_distance, reason=reason, dry_run=dry_run)
    for w in r.warnings:
        click.echo(f"warning: {w}", err=True)
    if r.finished:
        click.echo(f"finished an interrupted removal ({plural(len(r.finished), 'file')})")
    verb = "would be removed" if dry_run else "removed"
    for m in r.removed:
        click.echo(
            f"{verb}: {printable(m.file)} (source {printable(m.source)}; "
            f"matched by {printable(m.how)})"
        )
    for t, when in r.already.items():
        click.echo(f"{printable(t)} was already removed ({when})")
    for t in r.unmatched:
        click.echo(f"no image matches {printable(t)}", err=True)
    for p in r.sheets_deleted:
        click.echo(
            f"deleted contact sheet {printable(p)} (it showed a removed image); "
            "run `zizi dataset inspect` to redraw the sheets"
        )
    click.echo(f"{plural(len(r.removed), 'image')} {verb}")
    if r.unmatched and not r.removed and not r.already:
        raise click.exceptions.Exit(1)


@dataset.command("contains")
@click.argument("dataset_dir", metavar="DATASET", type=click.Path(path_type=Path))
@click.argument("photo", type=click.Path(path_type=Path))
@click.option(
    "--max-distance",
    type=click.IntRange(0, 64),
    default=10,
    show_default=True,
    help="Perceptual-hash bits (of 64) within which a photo counts as a match.",
)
def contains_cmd(dataset_dir: Path, photo: Path, max_distance: int) -> None:
    """Is PHOTO (or a near copy of it) in DATASET?

    \b
    Exit status:
      0  yes: PHOTO is in DATASET (the matching images are listed)
      1  no: it is not
      2  error: an unreadable or missing photo, a missing or damaged dataset
    """
    from zizi.data.manifest import load_manifest
    from zizi.data.optout import find_by_photo
    from zizi.errors import ZiziError

    try:
        if not dataset_dir.is_dir():
            raise ZiziError(f"{printable(dataset_dir)} is not a dataset folder")
        if not photo.is_file():
            raise ZiziError(f"{printable(photo)} is not a file")
        manifest = load_manifest(dataset_dir)
        matches = find_by_photo(dataset_dir, manifest.images, photo, max_bits=max_distance)
    except ZiziError as e:
        click.echo(f"Error: {printable(e)}", err=True)
        raise click.exceptions.Exit(2) from None
    for w in manifest.warnings():
        click.echo(f"warning: {w}", err=True)
    if not matches:
        click.echo(f"no: {printable(photo)} is not in {printable(dataset_dir)}")
        raise click.exceptions.Exit(1)
    click.echo(f"yes: {plural(len(matches), 'image')}")
    for m in matches:
        click.echo(f"  {printable(m.file)} (source {printable(m.source)}; {printable(m.how)})")


@dataset.command("card")
@click.argument(
    "dataset_dir", metavar="DATASET", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for DATASHEET.md and its charts [default: DATASET-datasheet "
    "next to it, so no chart PNG is taken for a training image].",
)
def card_cmd(dataset_dir: Path, out: Path | None) -> None:
    """Write a datasheet for DATASET: DATASHEET.md plus PNG charts.

    From what the dataset records: counts, sources by folder, credit/licence/consent
    coverage (and which sources lack each), the opt-out log, framing, skip reasons,
    duplicates, resolution, colour and brightness. Nothing classifies people. Questions
    only you can answer (motivation, collection, consent process, intended uses) are
    headed prompts to fill in.
    """
    from zizi.data.card import write_card

    with progress_bar(total=0, unit="img", desc="card") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        c = write_card(dataset_dir, out, progress=progress)
    for w in c.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{c.summary}")
    click.echo(f"datasheet: {printable(c.datasheet)}")
    for p in c.charts:
        click.echo(f"chart: {printable(p)}")
