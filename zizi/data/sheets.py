"""Contact sheets: the pages `zizi dataset inspect --sheets` draws, and the bookkeeping that
lets an opt-out take a person off every page that shows them.

A sheet folder holds `contact-NNN.png` pages and `contact.json` (which dataset, which files
on which page); a prepared dataset holds `contact-sheets.json`, the sheet folders drawn
from it. `forget_on_sheets` (called when a removal is finished, `zizi.data.manifest`)
deletes every page that shows a removed file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from zizi.data.folder import has_manifest, read_member
from zizi.files import write_json, write_png
from zizi.text import printable, shorten_middle

SHEET_INDEX = "contact.json"  # in a sheet folder: which dataset, which files on which page
SHEET_POINTER = "contact-sheets.json"  # in a dataset: the sheet folders drawn from it


def write_sheet(page: list, sheet_dir: Path, number: int, first_index: int) -> Path:
    """A grid of thumbnails, each captioned with its index and file name."""
    import numpy as np
    from PIL import Image, ImageDraw

    thumb = page[0][1].width
    cols = math.ceil(math.sqrt(len(page)))
    rows = math.ceil(len(page) / cols)
    caption = 14
    sheet = Image.new(
        "RGB", (cols * (thumb + 4) + 4, rows * (thumb + caption + 4) + 4), (24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    for k, (name, im) in enumerate(page):
        x = 4 + (k % cols) * (thumb + 4)
        y = 4 + (k // cols) * (thumb + caption + 4)
        sheet.paste(im, (x, y))
        # Pillow's default font is ~6 px per character; shorten in the middle so the
        # extension (and the name's end, often a number) stays readable.
        width = max(4, thumb // 6)
        index = f"{first_index + k} "
        label = index + shorten_middle(printable(Path(name).name), max(4, width - len(index)), "..")
        draw.text((x + 1, y + thumb + 1), label, fill=(220, 220, 220))
    # atomic, and an unwritable --sheets folder is one clear error
    return write_png(sheet_dir / f"contact-{number:03d}.png", np.asarray(sheet))


def index_sheets(dataset: Path, sheet_dir: Path, pages: dict[str, list[str]]) -> list[Path]:
    """Record which files each contact sheet shows (so an opt-out can take a person off
    every sheet) and delete pages an earlier, larger run left behind."""
    old = _read_index(sheet_dir, dataset)
    stale = []
    for name in sorted(set(old) - set(pages)):
        p = sheet_dir / name
        if p.is_file():
            p.unlink()
            stale.append(p)
    write_json(sheet_dir / SHEET_INDEX, {"dataset": str(dataset.resolve()), "pages": pages})
    if has_manifest(dataset):
        pointer = dataset / SHEET_POINTER
        folders = _read_pointer(dataset)
        here = str(sheet_dir.resolve())
        if here not in folders:
            write_json(pointer, {"folders": [*folders, here]})
    return stale


def _read_index(sheet_dir: Path, dataset: Path) -> dict[str, list[str]]:
    """A sheet folder's pages, if its index is zizi's and names this dataset; only
    `contact-NNN.png` names (a crafted index cannot point elsewhere)."""
    try:
        index = json.loads((sheet_dir / SHEET_INDEX).read_text("utf-8"))
        if index.get("dataset") != str(Path(dataset).resolve()):
            return {}
        return {
            k: [str(f) for f in v]
            for k, v in index["pages"].items()
            if re.fullmatch(r"contact-\d{3,}\.png", k) and isinstance(v, list)
        }
    except (OSError, ValueError, AttributeError, TypeError, KeyError, RecursionError):
        return {}


def _read_pointer(dataset: Path) -> list[str]:
    data = read_member(dataset, SHEET_POINTER)  # a link out or a FIFO: one line, never read
    try:
        folders = json.loads(data.decode("utf-8"))["folders"] if data is not None else []
        return [f for f in folders if isinstance(f, str)]
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return []


def forget_on_sheets(dataset: Path, files: list[str]) -> list[Path]:
    """Delete every contact-sheet page drawn from `dataset` that shows one of `files`
    (after an opt-out). Returns the pages deleted."""
    gone = set(files)
    deleted = []
    for folder in _read_pointer(dataset):
        sheet_dir = Path(folder)
        pages = _read_index(sheet_dir, dataset)
        hit = [name for name, shown in pages.items() if gone & set(shown)]
        for name in hit:
            p = sheet_dir / name
            if p.is_file() and not p.is_symlink():
                p.unlink()
                deleted.append(p)
            del pages[name]
        if hit:
            write_json(
                sheet_dir / SHEET_INDEX, {"dataset": str(Path(dataset).resolve()), "pages": pages}
            )
    return deleted
