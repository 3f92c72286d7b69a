"""A prepared dataset's folder: the names of the files that travel with it, and reading a
received one only inside itself.

`zizi dataset prepare` writes `manifest.json` (provenance and the opt-out log, see
`zizi.data.manifest`), `report.json` (every skipped source file with the reason) and
`dataset.json` (the ADA tools' label file) beside the images. A dataset from someone else
may point anywhere: every reader asks this module for a member's bytes or path, and a link
out, `..`, a FIFO or an oversized file is one line naming it, never followed or read whole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from zizi.errors import DatasetError
from zizi.files import read_confined

MANIFEST = "manifest.json"
REPORT = "report.json"
ADA_LABELS = "dataset.json"
MAX_JSON_BYTES = 256 << 20  # a manifest is ~0.6 KiB an image: 256 MiB is ~400,000 images
MAX_IMAGE_BYTES = 1 << 30  # as `prepare --max-file-mb`'s default: no prepared image is larger


def read_member(dataset: Path, rel: str, limit: int = MAX_JSON_BYTES) -> bytes | None:
    """The bytes of DATASET/rel (None when absent), read only inside the dataset: a link
    out (the file or a folder on the way), a FIFO, a device or a file over `limit` is one
    line naming it, never followed, waited on or read whole (`zizi.files.read_confined`)."""
    return read_confined(
        dataset, *PurePosixPath(rel).parts, limit=limit, what="dataset", error=DatasetError
    )


def has_manifest(folder: Path) -> bool:
    """Whether `folder` is a prepared dataset: it holds manifest.json, even as a link or a
    special file (which is then refused by name when read, not taken for a plain folder)."""
    return os.path.lexists(Path(folder) / MANIFEST)


class MemberCheck:
    """Whether a path taken from a manifest names a file inside the dataset.

    A received dataset must never reach outside its own folder: absolute paths, drive
    letters, `..`, backslashes and symlinks (in any folder on the way, or the file
    itself) that resolve outside are refused. Folders are resolved once each.
    """

    def __init__(self, dataset: Path) -> None:
        self.root = Path(dataset).resolve()
        self._folders: dict[str, Path] = {}

    @staticmethod
    def why_unsafe_name(rel: Any) -> str | None:
        """The checks that need no filesystem (also used for names inside a zip)."""
        if not isinstance(rel, str) or not rel:
            return "not a file name"
        if "\x00" in rel or "\\" in rel or (len(rel) > 1 and rel[1] == ":"):
            return "not a relative POSIX path"
        p = PurePosixPath(rel)
        if p.is_absolute():
            return "an absolute path, outside the dataset"
        if ".." in p.parts:
            return "a path with '..', outside the dataset"
        return None

    def why_unsafe(self, rel: Any) -> str | None:
        why = self.why_unsafe_name(rel)
        if why is not None:
            return why
        p = PurePosixPath(rel)
        parent = p.parent.as_posix()
        folder = self._folders.get(parent)
        if folder is None:
            folder = self._folders[parent] = (self.root / parent).resolve()
        if folder != self.root and self.root not in folder.parents:
            return "its folder is a symlink leading outside the dataset"
        full = folder / p.name
        if os.path.islink(full):
            target = full.resolve()
            if target != self.root and self.root not in target.parents:
                return "a symlink leading outside the dataset"
        try:
            mode = os.stat(full).st_mode
        except OSError:
            return None  # missing: reported as missing by whoever reads it
        if not stat.S_ISREG(mode):
            return "not a plain file (a folder, FIFO, device or socket)"
        return None

    def path(self, rel: str) -> Path | None:
        """The file's path inside the dataset, or None when `rel` is unsafe."""
        return None if self.why_unsafe(rel) else self.root / rel
