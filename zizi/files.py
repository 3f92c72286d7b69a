"""Writing files so that a reader never sees half of one: the one atomic-write helper.

Every file zizi writes for a person to keep (checkpoints, snapshots, JSON, PNGs, video
frames and videos) goes through `atomic_write`: the bytes go to a temporary file beside
the target, named `.NAME.<pid>.<random>.partial`, which is flushed, fsynced and renamed
over the target. A killed process or a full disk leaves the previous file (or none)
under the final name, never a truncated one. The pid in the temporary name lets a later
run tell a dead writer's leftovers from a live writer's file (`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from zizi.errors import ZiziError

TEMP_SUFFIX = ".partial"


def temp_beside(path: Path, error: type[ZiziError] = ZiziError) -> tuple[int, str]:
    """Create the folder of `path` and an empty temporary file beside it; (fd, temp path).

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600, so the
    renamed file can be shared like any file the user saves.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise OSError(17, "could not find a free temporary name")
    except OSError as e:
        why = e.strerror or str(e)
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            why = f"{blocker} is a file, not a folder"
        raise error(f"cannot write into {path.parent}: {why}; choose another output folder") from e
    return fd, str(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *,
                 error: type[ZiziError] = ZiziError, encoding: str | None = None) -> Iterator[IO]:
    """`with atomic_write(p) as f: f.write(...)`: all of the file under `p`, or nothing.

    On any failure (an exception in the block, a full disk, Ctrl-C) the temporary file
    is removed and the target is left as it was; an OSError becomes `error` with a
    message that says nothing was written.
    """
    path = Path(path)
    fd, tmp = temp_beside(path, error)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise error(_write_failed(path, e)) from e
        raise


def write_bytes(path: str | os.PathLike, data: bytes, *, error: type[ZiziError] = ZiziError) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb", error=error) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, error: type[ZiziError] = ZiziError) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"), error=error)


def write_json(path: str | os.PathLike, data: Any, *, error: type[ZiziError] = ZiziError,
               indent: int | None = 1) -> Path:
    """Write `data` as UTF-8 JSON (non-ASCII kept readable) to `path` atomically."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=False) + "\n"
    return write_text(path, text, error=error)


def write_png(path: str | os.PathLike, array: Any, *, text: dict[str, str] | None = None,
              error: type[ZiziError] = ZiziError) -> Path:
    """Write an [H, W, C] (or [H, W]) uint8 array as PNG atomically, with optional text chunks."""
    from PIL import Image, PngImagePlugin

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    mode = "L" if array.ndim == 2 else {3: "RGB", 4: "RGBA"}[array.shape[-1]]
    img = Image.fromarray(array, mode=mode)
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_itxt(k, v)
    with atomic_write(path, "wb", error=error) as f:
        img.save(f, format="PNG", pnginfo=info)
    return Path(path)


def is_temp_name(name: str) -> bool:
    """Whether `name` is one of `atomic_write`'s temporary files."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _write_failed(path: Path, e: OSError) -> str:
    why = e.strerror or str(e)
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(path.parent).free
        if free < 64 << 20:
            why += f" ({free // 2**20} MiB free there; is the disk full?)"
    return f"could not write {path}: {why}; nothing was written"


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders can't be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
