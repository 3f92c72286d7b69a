"""A datasheet for a prepared dataset (after Gebru et al., "Datasheets for Datasets").

Written from what the dataset itself records: the manifest (images, sources, credit,
licence, consent, framing, the opt-out log), report.json (skips and duplicates) and the
pixels of the images the manifest lists. Nothing here classifies people: no guessed
gender, race or age, only facts the files hold. What only the author knows (why, how the
photos were gathered, how consent was asked) appears as headed prompts to fill in.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zizi.data.folder import MAX_IMAGE_BYTES, REPORT, MemberCheck, read_member
from zizi.data.manifest import ImageRecord, Manifest, load_manifest
from zizi.errors import DatasetError
from zizi.files import write_bytes, write_text
from zizi.text import plural

DATASHEET = "DATASHEET.md"
LISTED = 200  # names listed per "which lack it" list before "and N more"


@dataclass
class Coverage:
    field: str  # "credit", "licence" or "consent"
    recorded: int  # images with a value
    total: int
    missing_sources: list[str]  # sources (sorted, distinct) whose images lack it
    values: dict[str, int]  # value -> images (e.g. licences)


@dataclass
class Card:
    datasheet: Path
    charts: list[Path] = field(default_factory=list)
    summary: str = ""
    warnings: list[str] = field(default_factory=list)  # unsafe manifest entries left alone


def coverage(images: list[ImageRecord]) -> list[Coverage]:
    out = []
    for name in ("credit", "licence", "consent"):
        have = [getattr(r, name) for r in images if getattr(r, name)]
        missing = sorted({r.source for r in images if not getattr(r, name)})
        values = Counter(have) if name != "credit" else Counter()
        out.append(Coverage(name, len(have), len(images), missing, dict(values.most_common())))
    return out


def summary_line(dataset: Path | Manifest) -> str:
    """One line for the trainer's log: '1000 images, consent recorded for 940'."""
    m = dataset if isinstance(dataset, Manifest) else load_manifest(Path(dataset))
    n = len(m.images)
    consent = sum(1 for r in m.images if r.consent)
    line = f"{plural(n, 'image')}, consent recorded for {'all' if n and consent == n else consent}"
    if m.removed:
        line += f", {len(m.removed)} removed on request"
    return line


def write_card(
    dataset: Path,
    out: Path | None = None,  # folder for DATASHEET.md and charts; None = DATASET-datasheet
    progress: Callable[[int, int], None] | None = None,
) -> Card:
    """Write DATASHEET.md and its PNG charts for a prepared dataset."""
    dataset = Path(dataset)
    m = load_manifest(dataset)
    if out is None:
        here = dataset.resolve()
        out = here.with_name(here.name + "-datasheet")
    out = Path(out)
    report = _report(dataset)
    pixels = _pixel_stats(dataset, m, progress)
    # Everything is made in a hidden folder beside OUT, then renamed in (renames need no
    # space): a full disk leaves no datasheet with some charts, only the earlier one.
    work = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(work, ignore_errors=True)
    try:
        made = [
            _chart_coverage(work / "coverage.png", coverage(m.images)),
            _chart_sources(work / "sources.png", m),
            _chart_resolution(work / "resolution.png", m),
            _chart_colour(work / "colour.png", pixels),
        ]
        made.append(
            write_text(work / DATASHEET, _markdown(dataset, m, report, pixels), error=DatasetError)
        )
        out.mkdir(parents=True, exist_ok=True)
        for f in made:  # DATASHEET.md last: it names the charts
            os.replace(f, out / f.name)
    except OSError as e:
        raise DatasetError(f"could not write the datasheet to {out}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    charts = [out / f.name for f in made[:-1]]
    path = out / DATASHEET
    return Card(path, charts, summary_line(m), m.warnings())


# -- facts ---------------------------------------------------------------------------


def _report(dataset: Path) -> dict[str, Any]:
    data = read_member(dataset, REPORT)  # a link out or a FIFO: one line, never read
    try:
        r = json.loads(data.decode("utf-8")) if data is not None else {}
        return r if isinstance(r, dict) else {}
    except (ValueError, RecursionError):
        return {}


def _folder(source: str) -> str:
    return source.rsplit("/", 1)[0] if "/" in source else "(top folder)"


@dataclass
class _Pixels:
    mean_rgb: Any  # [N, 3] per-image mean of each channel, 0..255
    luma: Any  # [N] per-image mean Rec. 601 luma, 0..255
    unreadable: list[str]


def _pixel_stats(
    dataset: Path, m: Manifest, progress: Callable[[int, int], None] | None
) -> _Pixels:
    """Per-image mean colour and brightness of the images the manifest lists (64² box
    means: the charts need distributions, not detail)."""
    import numpy as np
    from PIL import Image

    check = MemberCheck(dataset)
    rgb = np.zeros((len(m.images), 3))
    ok = np.zeros(len(m.images), bool)
    unreadable = []
    for i, r in enumerate(m.images):
        path = check.path(r.file)
        try:
            if path is None:
                raise OSError("outside the dataset")
            data = read_member(dataset, r.file, limit=MAX_IMAGE_BYTES)  # checked on open
            if data is None:
                raise OSError("missing")
            with Image.open(io.BytesIO(data)) as im:
                small = im.convert("RGB").resize((64, 64), Image.Resampling.BOX)
            rgb[i] = np.asarray(small, dtype=np.float64).reshape(-1, 3).mean(0)
            ok[i] = True
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            unreadable.append(r.file)
        if progress is not None:
            progress(i + 1, len(m.images))
    rgb = rgb[ok]
    return _Pixels(rgb, rgb @ np.array([0.299, 0.587, 0.114]), unreadable)


# -- charts (matplotlib's object API with the Agg canvas: no pyplot, no display) ------


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:  # counts of images: whole numbers on the count axis
        axis = ax.xaxis if ax.get_xlabel() == "images" else ax.yaxis
        axis.set_major_locator(MaxNLocator(integer=True))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return write_bytes(path, buf.getvalue(), error=DatasetError)


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _chart_coverage(path: Path, cov: list[Coverage]) -> Path:
    fig = _figure(6, 2.2)
    ax = fig.add_subplot()
    names = [c.field for c in cov][::-1]
    have = [c.recorded for c in cov][::-1]
    lack = [c.total - c.recorded for c in cov][::-1]
    ax.barh(names, have, color="#3b7d4f", label="recorded")
    ax.barh(names, lack, left=have, color="#d9a441", label="not recorded")
    for y, (h, t) in enumerate(zip(have, [c.total for c in cov][::-1])):
        ax.text(t, y, f"  {h} of {t}", va="center", fontsize=9)
    ax.set_xlim(0, max(1, cov[0].total) * 1.25)
    ax.set_xlabel("images")
    ax.set_title("What the credits record, per image")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.3), ncol=2, fontsize=8, frameon=False)
    return _save(fig, path)


def _chart_sources(path: Path, m: Manifest) -> Path:
    folders = Counter(_folder(r.source) for r in m.images).most_common(15)
    fig = _figure(6, 0.6 + 0.3 * max(1, len(folders)))
    ax = fig.add_subplot()
    ax.barh([f for f, _ in folders][::-1], [n for _, n in folders][::-1], color="#4c6ea8")
    ax.set_xlabel("images")
    ax.set_title("Images by source folder" + (" (15 largest)" if len(folders) == 15 else ""))
    return _save(fig, path)


def _chart_resolution(path: Path, m: Manifest) -> Path:
    import numpy as np

    short = np.array([min(r.source_size) for r in m.images] or [0])
    fig = _figure(6, 2.6)
    ax = fig.add_subplot()
    top = max(int(short.max()), m.resolution) * 1.05
    ax.hist(short, bins=30, range=(0, top), color="#777777")
    ax.axvline(m.resolution, color="#c0392b", linestyle="--")
    ax.text(
        m.resolution,
        1.02,
        f"output {m.resolution} px",
        color="#c0392b",
        fontsize=9,
        ha="center",
        transform=ax.get_xaxis_transform(),
    )
    ax.set_xlabel("source short side (px); left of the line = enlarged")
    ax.set_ylabel("images")
    ax.set_title("Source resolution", pad=16)
    return _save(fig, path)


def _chart_colour(path: Path, px: _Pixels) -> Path:
    fig = _figure(8, 2.6)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(px.luma, bins=32, range=(0, 255), color="#555555")
    ax1.set_title("Brightness (mean luma per image)")
    ax1.set_xlabel("0 = black, 255 = white")
    ax1.set_ylabel("images")
    for c, colour in enumerate(("#c0392b", "#27ae60", "#2e64c0")):
        ax2.hist(
            px.mean_rgb[:, c],
            bins=32,
            range=(0, 255),
            histtype="step",
            color=colour,
            label="RGB"[c],
            linewidth=1.5,
        )
    ax2.set_title("Colour (mean of each channel per image)")
    ax2.set_xlabel("channel mean, 0..255")
    ax2.legend(fontsize=8, frameon=False)
    return _save(fig, path)


# -- the datasheet ------------------------------------------------------------------


def _md(s: object) -> str:
    """A value shown in Markdown: escapes that would start markup or break a table."""
    from zizi.text import printable

    text = printable(s)
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text


def _names(names: list[str]) -> str:
    shown = ", ".join(_md(n) for n in names[:LISTED])
    more = len(names) - LISTED
    return shown + (f" … and {more} more (see manifest.json)" if more > 0 else "")


PROMPTS = [
    (
        "Motivation",
        "Why was this dataset made, and by whom? For which artwork or project? Who paid for it?",
    ),
    (
        "Who is in it",
        "Who are the people pictured, in the words they chose? How were they "
        "invited? (Write what they told you; do not guess anyone's gender, race or age.)",
    ),
    (
        "Collection process",
        "How and when were the photos gathered (a workshop, a call for "
        "photos, an archive)? Who took them?",
    ),
    (
        "Consent",
        "How was consent asked and recorded? What did people agree to: training, "
        "showing the generated images, sharing the dataset? How can someone withdraw?",
    ),
    ("Intended uses", "What is this dataset for? What should it not be used for?"),
    ("Distribution", "Will it be shared, with whom, under which licence?"),
    ("Maintenance", "Who looks after it and answers opt-out requests? How are they reached?"),
]


def _markdown(dataset: Path, m: Manifest, report: dict[str, Any], px: _Pixels) -> str:
    import numpy as np

    images = m.images
    n = len(images)
    sources = {r.source for r in images}
    lines = [
        f"# Datasheet: {_md(dataset.resolve().name)}",
        "",
        f"*Written by `zizi dataset card` from the dataset's manifest. {_md(summary_line(m))}.*",
        "",
        "Facts below come from the files; sections marked *To fill in* are for the "
        "person who assembled the dataset. Nothing here guesses anything about the "
        "people pictured.",
        "",
    ]
    for title, prompt in PROMPTS[:1]:
        lines += [f"## {title}", "", f"*To fill in:* {prompt}", ""]

    lines += [
        "## Composition",
        "",
        f"- **{plural(n, 'image')}** at {m.resolution}×{m.resolution} px from "
        f"**{plural(len(sources), 'source file')}**"
        + (" (plus mirrored copies)" if m.options.get("mirror") else ""),
        f"- Framing: `--align {_md(m.align)}`",
        "",
    ]
    folders = Counter(_folder(r.source) for r in images)
    src_folders = Counter(_folder(s) for s in sources)
    lines += ["### Sources by folder", "", "| folder | source files | images |", "|---|---:|---:|"]
    lines += [f"| {_md(f)} | {src_folders[f]} | {k} |" for f, k in sorted(folders.items())]
    lines += ["", "![images by source folder](sources.png)", ""]
    for title, prompt in PROMPTS[1:2]:
        lines += [f"### {title}", "", f"*To fill in:* {prompt}", ""]

    lines += [
        "## Credit, licence and consent",
        "",
        "How many images have each recorded in the credits CSV given to "
        "`zizi dataset prepare --credits`, and which sources lack it.",
        "",
        "![coverage](coverage.png)",
        "",
        "| recorded | images | lacking it |",
        "|---|---:|---|",
    ]
    cov = coverage(images)
    for c in cov:
        lines.append(
            f"| {c.field} | {c.recorded} of {c.total} | "
            f"{_names(c.missing_sources) if c.missing_sources else 'none'} |"
        )
    for c in cov:
        if c.values:
            lines += [
                "",
                f"{c.field.capitalize()} values: "
                + ", ".join(f"{_md(v)} ×{k}" for v, k in c.values.items()),
            ]
    lines += [""]
    for title, prompt in PROMPTS[3:4]:
        lines += [f"### {title}", "", f"*To fill in:* {prompt}", ""]

    lines += ["## Removed on request (opt-out log)", ""]
    if m.removed:
        log = Counter(
            (str(e.get("removed_at", "?"))[:10], str(e.get("reason", "?"))) for e in m.removed
        )
        lines += [
            f"{plural(len(m.removed), 'image')} removed. Source names stay in "
            "manifest.json's log and are left out here, since a datasheet is shared.",
            "",
            "| date | reason | images |",
            "|---|---|---:|",
        ]
        lines += [f"| {d} | {_md(r)} | {k} |" for (d, r), k in sorted(log.items())]
        how = Counter(str(e.get("matched_by", "?")).split(" (")[0] for e in m.removed)
        lines += ["", "Matched by: " + ", ".join(f"{_md(h)} ×{k}" for h, k in how.items())]
    else:
        lines += ["No image has been removed."]
    lines += [""]

    lines += ["## Preprocessing", "", "### Framing", ""]
    framing = Counter(str(r.transform.get("align", "?")) for r in images)
    lines += [f"- {_md(k)}: {v}" for k, v in sorted(framing.items())]
    fallback = Counter(str(r.transform["fallback"]) for r in images if r.transform.get("fallback"))
    if fallback:
        lines += [
            f"- centre-cropped because no usable face was found: {sum(fallback.values())}"
            + " ("
            + ", ".join(f"{_md(k)} ×{v}" for k, v in fallback.items())
            + ")"
        ]
    oriented = sum(1 for r in images if r.transform.get("exif_orientation"))
    icc = sum(1 for r in images if r.transform.get("icc_to_srgb"))
    alpha = sum(1 for r in images if r.transform.get("alpha_background"))
    lines += [
        f"- EXIF orientation applied: {oriented}; colour profile converted to sRGB: "
        f"{icc}; transparency flattened: {alpha}",
        "- Metadata (EXIF, GPS, XMP) is stripped from every output image.",
        "",
    ]

    skipped = [s for s in report.get("skipped", []) if isinstance(s, dict)]
    kinds = Counter(
        str(s.get("reason", "")).split(":")[0].split(" (")[0].split(" of ")[0] for s in skipped
    )
    lines += ["### Skipped at prepare", ""]
    if kinds:
        lines += [
            f"{plural(len(skipped), 'source file')} skipped (each with its reason in report.json):",
            "",
        ]
        lines += [f"- {_md(k)}: {v}" for k, v in kinds.most_common()]
    else:
        lines += ["No source file was skipped." if report else "No report.json was found."]
    dups = [s for s in skipped if s.get("duplicate_of")]
    lines += [
        "",
        "### Duplicates",
        "",
        f"- dropped at prepare as exact or near duplicates: {len(dups)}"
        + (" (`--dedupe` was on)" if m.options.get("dedupe") else " (`--dedupe` was off)"),
        f"- near-duplicate groups still in the set: {_groups_in_set(m)}",
        "",
    ]

    short = np.array([min(r.source_size) for r in images] or [0])
    enlarged = int((short < m.resolution).sum())
    lines += [
        "## Resolution",
        "",
        f"Source short side: smallest {int(short.min())} px, median "
        f"{int(np.median(short))} px, largest {int(short.max())} px. "
        f"{plural(enlarged, 'image')} enlarged to reach {m.resolution} px.",
        "",
        "![source resolution](resolution.png)",
        "",
    ]

    lines += ["## Colour and brightness", ""]
    if len(px.luma):
        grey = int((np.ptp(px.mean_rgb, axis=1) < 2).sum())
        lines += [
            f"Mean brightness {px.luma.mean():.0f} of 255 (darkest image "
            f"{px.luma.min():.0f}, brightest {px.luma.max():.0f}); mean RGB "
            + ", ".join(f"{v:.0f}" for v in px.mean_rgb.mean(0))
            + f"; {plural(grey, 'image')} with (nearly) equal channel means.",
            "",
            "![colour and brightness](colour.png)",
            "",
        ]
    if px.unreadable:
        lines += [f"Unreadable images (not in the charts): {_names(px.unreadable)}", ""]

    for title, prompt in [p for i, p in enumerate(PROMPTS) if i in (2, 4, 5, 6)]:
        lines += [f"## {title}", "", f"*To fill in:* {prompt}", ""]
    return "\n".join(lines)


def _groups_in_set(m: Manifest) -> int:
    from zizi.data.phash import NEAR_DUPLICATE_BITS, near_duplicate_groups

    near = int(m.options.get("near_duplicate_bits", NEAR_DUPLICATE_BITS))
    return len(
        near_duplicate_groups(
            [r.file for r in m.images], [int(r.phash, 16) for r in m.images], near
        )
    )
