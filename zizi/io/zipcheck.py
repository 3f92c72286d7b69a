"""Zip bombs: a torch zip's declared sizes are checked before anything is decompressed.

`torch.save` writes a zip archive whose records (the pickle and one record per tensor
storage) are stored uncompressed, so together they can never be larger than the file.
A crafted file can instead deflate a record: a few MB on disk that declare gigabytes,
which torch's reader inflates in memory before it checks anything. zizi reads the
archive's central directory (a few bytes per record, nothing inflated) and refuses an
archive whose records declare more than `MAX_INFLATION` times the bytes it holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

from zizi.errors import CheckpointError

MAX_INFLATION = 2  # declared bytes per byte of archive; stored records give at most 1
SLACK_BYTES = 1 << 20  # a tiny archive may hold a small deflated pickle
MAX_RECORDS = 100_000  # a StyleGAN2 training checkpoint has a few hundred


def check_zip_sizes(file: str | Path | IO[bytes], size: int, where: str) -> None:
    """Refuse a zip of `size` bytes whose records declare more than it can legitimately hold."""
    try:
        with zipfile.ZipFile(file) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as e:
        raise CheckpointError(f"{where} is a damaged zip archive ({e})") from None
    if len(infos) > MAX_RECORDS:
        raise CheckpointError(
            f"{where} holds {len(infos):,} records; a checkpoint has at most "
            f"{MAX_RECORDS:,} (refused before reading them)"
        )
    declared = sum(max(i.file_size, 0) for i in infos)
    limit = MAX_INFLATION * size + SLACK_BYTES
    if declared > limit:
        biggest = max(infos, key=lambda i: i.file_size)
        raise CheckpointError(
            f"{where} declares {declared / 2**20:,.0f} MiB of contents in {size / 2**20:,.1f} MiB "
            f"(record {biggest.filename} inflates to {biggest.file_size / 2**20:,.0f} MiB): a zip "
            "bomb or a damaged file; refused before decompressing anything"
        )
