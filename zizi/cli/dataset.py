"""`zizi dataset`: prepare, inspect and curate training image folders."""

from __future__ import annotations

from pathlib import Path

import click

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
        raise click.BadParameter("use a hex colour such as ffffff or 000000")
    try:
        return tuple(int(v[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        raise click.BadParameter("use a hex colour such as ffffff or 000000") from None


@dataset.command("prepare", epilog=FACE_HELP)
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Dataset folder to create, e.g. datasets/zizi-drag.")
@click.option("--resolution", type=int, default=256, show_default=True,
              help="Output side in pixels (a power of two).")
@click.option("--align", type=click.Choice(["face", "face-or-center", "center", "pad", "none"]),
              default="center", show_default=True,
              help="face: FFHQ-style crop per face (no face -> reported); face-or-center: "
                   "centre crop when no face; center: centre square; pad: whole image on "
                   "--background; none: square sources only, resized.")
@click.option("--landmarks", type=click.Choice(["5", "68"]), default="5", show_default=True,
              help="Landmark model for --align face: 5 (CC0) or 68 (non-commercial licence).")
@click.option("--mirror", is_flag=True, help="Also write an x-flipped copy of every image.")
@click.option("--dedupe", is_flag=True,
              help="Drop exact (same pixels) and near (perceptual hash) duplicates.")
@click.option("--credits", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns source, credit, licence, consent[, label].")
@click.option("--background", default="ffffff", show_default=True,
              help="Hex colour behind transparent pixels and --align pad borders.")
@click.option("--min-size", type=click.IntRange(min=1), default=None,
              help="Smallest source short side accepted [default: resolution/2].")
@click.option("--min-face", type=click.IntRange(min=1), default=None,
              help="Smallest face (crop side in source pixels) [default: resolution/2].")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes; 0 = all cores.")
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty.")
def prepare_cmd(src: Path, out: Path, resolution: int, align: str, landmarks: str, mirror: bool,
                dedupe: bool, credits: Path | None, background: str, min_size: int | None,
                min_face: int | None, workers: int, force: bool) -> None:
    """Turn the image folder SRC into a clean training set (SRC is only read).

    Writes OUT/00000/img00000000.png..., dataset.json (ADA labels), manifest.json (source,
    hashes, transform, credit per image) and report.json (every skipped file and why).
    Outputs carry no EXIF, GPS or XMP.
    """
    from tqdm import tqdm

    from zizi.data.prepare import PrepareConfig, prepare

    cfg = PrepareConfig(
        src=src, out=out, resolution=resolution, align=align, landmarks=landmarks,
        mirror=mirror, dedupe=dedupe, credits=credits, background=_rgb(background),
        min_size=min_size, min_face=min_face, workers=workers, force=force,
    )
    with tqdm(total=0, unit="img", desc="prepare", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = prepare(cfg, progress=progress)
    click.echo(f"{result.written} images written to {result.out} "
               f"({result.seconds:.1f} s); {len(result.skipped)} skipped")
    for s in result.skipped:
        click.echo(f"  skipped {s.source}: {s.reason}")
    if result.skipped:
        click.echo(f"  (also in {result.out / 'report.json'})")
