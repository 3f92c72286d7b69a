"""Format detection and the one entry point that turns any supported file into a Checkpoint.

The format is sniffed from the file's content, never its name. Each foreign format has a
reader registered in `READERS`; all of them read without executing the file's code.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

from zizi.errors import CheckpointError
from zizi.io.checkpoint import Checkpoint

# Legacy (pre-1.6) torch.save files start with a pickled magic number.
_TORCH_LEGACY_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_SNIFF_BYTES = 1 << 16


def detect_format(path: str | Path) -> str:
    """'zizi', 'nvlabs' (NVIDIA PyTorch pickle), 'tf' (NVIDIA TF pickle) or 'torch' (a torch.save
    file, e.g. rosinality). Raises CheckpointError for anything else."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise CheckpointError(f"{path} is empty")
    # safetensors first: its first 8 bytes are the JSON header's length, which can start
    # with 0x80 or "PK" (a header of 0x..80 or 0x4b50 bytes) and so look like a pickle or zip.
    if head[8:10] == b'{"' and 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size:
        return "zizi"
    if head[:2] == b"PK":
        return "torch"
    if head[:1] == b"\x80":  # pickle protocol >= 2
        if _TORCH_LEGACY_MAGIC in head[:32]:
            return "torch"
        if b"dnnlib.tflib" in head:
            return "tf"
        # Any other pickle goes to the NVIDIA reader: its allow-list unpickler names the
        # first global it refuses, which is the most useful message for a hostile file.
        return "nvlabs"
    if head[8:9] == b"{":
        return "zizi"
    raise CheckpointError(
        f"{path} is not a checkpoint zizi can read (not a pickle, torch file or safetensors file)"
    )


def _read_nvlabs(path: Path, which: str | None) -> Checkpoint:
    from zizi.io.nvlabs import read_nvlabs_pickle

    return read_nvlabs_pickle(path, which)


def _read_zizi(path: Path, which: str | None) -> Checkpoint:
    from zizi.io.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    ckpt.provenance = dict(ckpt.provenance, importer=ckpt.provenance.get("importer", "zizi"))
    return ckpt


def _read_tf(path: Path, which: str | None) -> Checkpoint:
    from zizi.io.tf_pickle import read_tf_pickle

    return read_tf_pickle(path, which)


def _read_torch(path: Path, which: str | None) -> Checkpoint:
    from zizi.io.rosinality import read_rosinality

    return read_rosinality(path, which)


#: format name -> reader(path, which) -> Checkpoint
READERS: dict[str, Callable[[Path, str | None], Checkpoint]] = {
    "nvlabs": _read_nvlabs,
    "zizi": _read_zizi,
    "tf": _read_tf,
    "torch": _read_torch,
}


def import_checkpoint(
    path: str | Path, which: str | None = None, sha256: str | None = None
) -> Checkpoint:
    """Read any supported checkpoint file into a `Checkpoint` with provenance filled in.

    `which` picks one generator ('G_ema' or 'G') where the file has several; `sha256`
    may be passed when the caller already hashed the file (a download).
    """
    from zizi import __version__
    from zizi.io.download import file_sha256

    path = Path(path)
    fmt = detect_format(path)
    reader = READERS.get(fmt)
    if reader is None:
        raise CheckpointError(
            f"{path}: reading the {fmt!r} format needs a reader that is not installed"
        )
    try:
        ckpt = reader(path, which)
    except RecursionError:  # lists in lists in lists...: the readers walk what they load
        raise CheckpointError(
            f"{path} nests its contents too deeply to be a checkpoint "
            "(refused; nothing was written)"
        ) from None
    ckpt.provenance = {
        **ckpt.provenance,
        "source_name": path.name,
        "source_sha256": sha256 or file_sha256(path),
        "source_bytes": path.stat().st_size,
        "source_format": fmt,
        "imported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "zizi_version": __version__,
    }
    return ckpt
