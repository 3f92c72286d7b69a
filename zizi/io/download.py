"""Resumable, verified downloads of large checkpoint files.

Bytes go to `<dest>.part`; a cut connection leaves the part file in place and the next
attempt (in the same call, or a later run) continues it with an HTTP Range request. Only
a complete file whose size and sha256 check out is renamed onto `dest`, atomically; a
file that fails the checks is deleted, so a bad download is never mistaken for a good one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zizi.errors import DownloadError

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    resumed: bool  # True when some bytes came from an earlier, interrupted attempt


class _Cut(Exception):
    """The connection ended before the server's announced length."""


def download(
    url: str,
    dest: str | Path,
    *,
    expected_size: int | None = None,
    sha256: str | None = None,
    min_size: int | None = None,
    retries: int = 3,
    timeout_s: float = 30.0,
    progress: bool = False,
    opener: Callable | None = None,
) -> Downloaded:
    """Download `url` to `dest`, resuming a `.part` file, verifying size and sha256.

    `expected_size`/`sha256` are exact checks (when known); `min_size` is a sanity floor.
    A cut connection is retried `retries` times from where it stopped; after that the
    part file is kept so the same command resumes later.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    urlopen = opener or urllib.request.urlopen
    resumed = part.exists() and part.stat().st_size > 0
    attempt = 0
    while True:
        try:
            total = _fetch(url, part, urlopen, timeout_s, progress)
            break
        except _Cut as e:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"download of {url} was cut off ({e}); the partial file {part} is kept, "
                    "run the same command again to resume"
                ) from None
            resumed = True
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise _offline_error(url, dest, e) from None

    size = part.stat().st_size
    problem = None
    if total is not None and size != total:
        problem = f"got {size} bytes but the server announced {total}"
    elif expected_size is not None and size != expected_size:
        problem = f"got {size} bytes, expected exactly {expected_size}"
    elif min_size is not None and size < min_size:
        problem = f"got only {size} bytes, expected at least {min_size} (not a checkpoint?)"
    digest = file_sha256(part) if problem is None else ""
    if problem is None and sha256 is not None and digest != sha256.lower():
        problem = f"sha256 {digest} does not match the expected {sha256}"
    if problem is not None:
        part.unlink(missing_ok=True)
        raise DownloadError(f"download of {url} refused and deleted: {problem}")
    os.replace(part, dest)
    return Downloaded(path=dest, sha256=digest, size=size, resumed=resumed)


def _fetch(url: str, part: Path, urlopen: Callable, timeout_s: float, progress: bool) -> int | None:
    """Append the rest of `url` to `part`; return the full size the server announced."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "zizi"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # Range past the end: an earlier attempt already has every byte.
            return None
        raise DownloadError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        if have and status != 206:
            have = 0  # server ignored the Range header: start over
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        bar = _progress_bar(total, have, part.name) if progress else None
        got = have
        try:
            with open(part, mode) as f:
                while True:
                    try:
                        block = response.read(_CHUNK_BYTES)
                    except (TimeoutError, http.client.IncompleteRead, ConnectionError) as e:
                        raise _Cut(f"{got} of {total} bytes: {type(e).__name__}") from None
                    if not block:
                        break
                    f.write(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and got < total:
        raise _Cut(f"{got} of {total} bytes")
    return total


def _progress_bar(total: int | None, initial: int, name: str):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        disable=None,  # drawn only on a terminal, never into a redirected log
    )


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK_BYTES):
            h.update(block)
    return h.hexdigest()


def _offline_error(url: str, dest: Path, e: BaseException) -> DownloadError:
    reason = getattr(e, "reason", e)
    return DownloadError(
        f"cannot download {url} ({reason}). Without network access, fetch that URL on "
        f"another machine and put the file in {dest.parent}/ as {dest.name}, then run the "
        "command again"
    )
