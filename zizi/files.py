"""Writing files so that a reader never sees half of one: the one atomic-write helper.

Every file zizi writes for a person to keep (checkpoints, snapshots, JSON, PNGs, video
frames and videos) goes through `atomic_write`: the bytes go to a temporary file beside
the target, named `.NAME.<pid>.<random>.partial`, which is flushed, fsynced and renamed
over the target. A killed process or a full disk leaves the previous file (or none)
under the final name, never a truncated one. The pid in the temporary name lets a later
run tell a dead writer's leftovers from a live writer's file (`remove_stale_temps`).

Two runs writing one output are kept apart by `output_lock` (a lock file naming its
owner, taken over only when that owner is dead) and by creating a file without --force
exclusively (`overwrite=False`: a hard link that fails if the name exists, never a rename
over it). `FileLock` is the one lock-file implementation (the ops build lock uses it too).

Folders that arrive from others (run folders, prepared datasets) are read and written
only inside themselves: `confined` is that wall and `read_confined` the bounded read
through it (a link out, a FIFO or `/dev/zero` is refused by name, never followed).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


# seal(temporary file, final path): rewrites a finished temporary file in place before it
# is renamed (zizi.credentials signs it), so the final name only ever holds a sealed file
Seal = Callable[[Path, Path], None]


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    error: type[ZiziError] = ZiziError,
    encoding: str | None = None,
    overwrite: bool = True,
    seal: Seal | None = None,
) -> Iterator[IO]:
    """`with atomic_write(p) as f: f.write(...)`: all of the file under `p`, or nothing.

    On any failure (an exception in the block, a full disk, Ctrl-C) the temporary file
    is removed and the target is left as it was; an OSError becomes `error` with a
    message that says nothing was written. With `overwrite=False` a file that appeared
    under `p` meanwhile (another run) is never replaced: `error` says so. `seal`, when
    given, runs on the complete temporary file before the rename (a failure there also
    leaves nothing under `p`).
    """
    path = Path(path)
    fd, tmp = temp_beside(path, error)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if seal is not None:
            seal(Path(tmp), path)
        commit_temp(tmp, path, overwrite=overwrite, error=error)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise error(_write_failed(path, e)) from e
        raise


def commit_temp(
    tmp: str | os.PathLike,
    path: str | os.PathLike,
    *,
    overwrite: bool = True,
    error: type[ZiziError] = ZiziError,
) -> None:
    """Move a finished temporary file to `path` in one step (and make that durable).

    `overwrite=False` creates `path` exclusively: `os.link` fails if the name exists, where
    a rename would silently replace it. Filesystems without hard links (FAT, some network
    shares) fall back to a check then a rename, which the output lock still serialises.
    """
    path = Path(path)
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise error(
                f"{path} already exists (another run wrote it meanwhile); it was not "
                "replaced: pass --force to overwrite it"
            ) from None
        except OSError as e:
            if e.errno not in (
                errno.EPERM,
                errno.ENOTSUP,
                errno.EOPNOTSUPP,
                errno.EMLINK,
                errno.EXDEV,
            ):
                raise
            if path.exists():
                raise error(
                    f"{path} already exists (another run wrote it meanwhile); it was not "
                    "replaced: pass --force to overwrite it"
                ) from None
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    _fsync_dir(path.parent)


def write_bytes(
    path: str | os.PathLike, data: bytes, *, error: type[ZiziError] = ZiziError
) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb", error=error) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, error: type[ZiziError] = ZiziError) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"), error=error)


def write_json(
    path: str | os.PathLike,
    data: Any,
    *,
    error: type[ZiziError] = ZiziError,
    indent: int | None = 1,
) -> Path:
    """Write `data` as UTF-8 JSON (non-ASCII kept readable) to `path` atomically."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=False) + "\n"
    return write_text(path, text, error=error)


def write_png(
    path: str | os.PathLike,
    array: Any,
    *,
    text: dict[str, str] | None = None,
    error: type[ZiziError] = ZiziError,
    seal: Seal | None = None,
) -> Path:
    """Write an [H, W, C] (or [H, W]) uint8 array as PNG atomically, with optional text
    chunks, sealed (signed) by `seal` before it gets its name."""
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
    with atomic_write(path, "wb", error=error, seal=seal) as f:
        img.save(f, format="PNG", pnginfo=info)
    return Path(path)


def is_temp_name(name: str) -> bool:
    """Whether `name` is one of `atomic_write`'s temporary files."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + "$")


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (and output locks) in `folder` whose writer is dead;
    the paths removed.

    A writer killed with SIGKILL (or by the OOM killer, or a power cut) cannot clean up,
    so its `.NAME.<pid>.<random>.partial` stays, possibly hundreds of MB. A temp is
    removed only when no process with its pid exists on this machine: a live writer's
    file is never touched. (Pids are per machine: a folder written by two machines at
    once over a network share is not protected, and a reused pid only keeps a file.)
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".lock"):
            lock = FileLock(Path(entry.path), stale_after_s=None)
            owner = lock.owner()  # only a lock zizi wrote, whose owner died on this machine
            if (
                owner is not None
                and owner.get("host") == socket.gethostname()
                and lock.is_stale(owner)
            ):
                lock._break()
                removed.append(Path(entry.path))
            continue
        m = _TEMP_NAME.match(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return sorted(removed)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


# --------------------------------------------------------------------------- locks


@dataclass
class FileLock:
    """An exclusive lock file holding {pid, host, time, ino} of its owner.

    A lock whose owner is dead (same host) or older than `stale_after_s` is broken, so an
    interrupted run never blocks later ones; so is a copy of a lock (its inode is not the
    recorded one: a run folder copied while it was training); waiting longer than
    `timeout_s` raises `error` (`timeout_s=0`: fail at once when a live owner holds it).
    """

    path: Path
    timeout_s: float = 600.0  # give up waiting for a live owner after this long
    stale_after_s: float | None = 1800.0  # a lock this old is abandoned; None: never by age
    poll_s: float = 0.2
    error: type[ZiziError] = ZiziError
    what: str = "lock"  # named in the timeout message

    def owner(self) -> dict | None:
        try:
            owner = json.loads(Path(self.path).read_text())
        except (FileNotFoundError, ValueError, OSError, RecursionError):
            return None
        return owner if isinstance(owner, dict) else None

    def is_stale(self, owner: dict | None) -> bool:
        if owner is None:  # unreadable: a writer died between create and write, or racing
            try:
                return time.time() - Path(self.path).stat().st_mtime > 5.0
            except FileNotFoundError:
                return False
        try:
            started, pid = float(owner.get("time", 0)), int(owner.get("pid", -1))
        except (TypeError, ValueError):
            return True  # not a lock any zizi wrote
        if "ino" in owner:  # a lock copied with its folder (cp -r, rsync, a backup) is a new
            # file: its inode is not the one its writer recorded, so it guards nothing here,
            # whoever wrote it and whether they still run. A moved folder keeps the inode.
            try:
                if Path(self.path).stat().st_ino != owner["ino"]:
                    return True
            except FileNotFoundError:
                return False
        if self.stale_after_s is not None and time.time() - started > self.stale_after_s:
            return True
        return owner.get("host") == socket.gethostname() and not pid_alive(pid)

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "time": time.time(),
                    "ino": os.fstat(fh.fileno()).st_ino,
                },
                fh,
            )
        return True

    def _break(self) -> None:
        # Rename first so that two waiters breaking the same stale lock cannot delete a
        # lock a third process has just created in its place.
        path = Path(self.path)
        grave = path.with_name(f"{path.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, grave)
            grave.unlink()

    def busy_message(self, owner: dict | None) -> str:
        return (
            f"timed out after {self.timeout_s:.0f} s waiting for the {self.what} {self.path} "
            f"held by {owner}; if no zizi process is using it, delete that file"
        )

    def acquire(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout_s
        while not self._try_create():
            owner = self.owner()
            if self.is_stale(owner):
                self._break()
                continue
            if time.monotonic() >= deadline:
                raise self.error(self.busy_message(owner))
            time.sleep(self.poll_s)

    def release(self) -> None:
        owner = self.owner()
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            with contextlib.suppress(FileNotFoundError):
                Path(self.path).unlink()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class _OutputLock(FileLock):
    target: Path | None = None

    def busy_message(self, owner: dict | None) -> str:
        who = "another zizi run"
        if owner:
            when = time.strftime("%H:%M:%S", time.localtime(float(owner.get("time", 0))))
            who += f" (pid {owner.get('pid')} on {owner.get('host')}, since {when})"
        return (
            f"{self.target} is being written by {who}; wait for it to finish or choose "
            f"another output (if no zizi is running, delete {self.path})"
        )


INSIDE_LOCK = ".zizi.lock"  # the lock a folder that outlives its writers holds within itself


def lock_path(target: str | os.PathLike, inside: bool = False) -> Path:
    """The lock file guarding `target` (a file or a folder): `.NAME.lock` beside it, or
    `.zizi.lock` inside a folder that stays put (a run). Keyed on the real path, so `.`,
    `../run`, a symlink alias and the absolute path all meet at one lock."""
    real = Path(os.path.realpath(os.path.expanduser(os.fspath(target))))
    return real / INSIDE_LOCK if inside else real.parent / f".{real.name}.lock"


@contextlib.contextmanager
def output_lock(
    target: str | os.PathLike,
    *,
    error: type[ZiziError] = ZiziError,
    what: str = "the output",
    inside: bool = False,
) -> Iterator[None]:
    """Hold the lock on `target` while a run writes it; a second run fails at once.

    The owner's pid and host are in the lock, so one left by a killed run is taken over
    by the next (on the same machine; from another machine only by deleting it).
    `inside=True` keeps the lock in the folder it protects (see `lock_path`).
    """
    target = Path(target)
    lock = _OutputLock(
        lock_path(target, inside),
        timeout_s=0,
        stale_after_s=None,
        error=error,
        what="output lock",
        target=target,
    )
    try:
        lock.acquire()
    except OSError as e:
        why = e.strerror or str(e)
        blocker = next((p for p in target.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            why = f"{blocker} is a file, not a folder"
        raise error(
            f"could not write {what} to {target}: {why}; nothing was written: choose another output"
        ) from e
    try:
        yield
    finally:
        lock.release()


def protected_folder(path: str | os.PathLike) -> str | None:
    """Why `path` may never be deleted or replaced by any command, even with --force (None
    when it may be): the root, the home folder, the current folder or one of its parents."""
    real = Path(os.path.realpath(os.path.expanduser(os.fspath(path))))
    cwd = Path(os.path.realpath(os.getcwd()))
    if real == Path(real.anchor):
        return "the root of the file system"
    if real == Path(os.path.realpath(Path.home())):
        return "your home folder"
    if real == cwd:
        return "the current folder"
    if real in cwd.parents:
        return "a parent of the current folder"
    return None


def check_replaceable(
    out: str | os.PathLike, is_previous: Any, *, what: str, error: type[ZiziError] = ZiziError
) -> None:
    """Refuse to let --force replace the folder `out` unless it is safe: never a protected
    folder (`protected_folder`), and never a non-empty folder that `is_previous(path)` does
    not recognise as an earlier output of the same kind. No command deletes a folder it
    did not create."""
    out = Path(out)
    why = protected_folder(out)
    if why is not None:
        raise error(
            f"--out {out} is {why}; {what} replaces its folder, so it is never written "
            "there, even with --force: choose a new folder"
        )
    if out.is_dir() and any(out.iterdir()) and not is_previous(out):
        raise error(
            f"--out {out} is a folder that holds other files, not an earlier {what}; "
            "even with --force it is not replaced: choose a new or empty folder"
        )


def confined(
    root: str | os.PathLike,
    *parts: str,
    kind: str = "any",
    what: str = "folder",
    error: type[ZiziError] = ZiziError,
) -> Path:
    """ROOT/parts..., refused unless its real place is inside ROOT (itself resolved) and it
    is (when it exists) a plain file (`kind="file"`), a folder (`"dir"`), or either
    (`"any"`). `what` names ROOT in the error ("run folder", "dataset").

    The returned path is the real one, so a later read, write or delete cannot be
    redirected by a link met on the way. A missing path is fine (it is about to be written).
    """
    root = Path(os.path.realpath(os.fspath(root)))
    path = Path(root, *parts)
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        link = _first_link(root, parts)
        raise error(
            f"{link} in the {what} {root} points outside it (to {real}); a {what} is "
            "read and written only inside itself: remove that link or copy the real "
            "files in"
        )
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror or e}") from e
    ok = {
        "file": stat.S_ISREG(st.st_mode),
        "dir": stat.S_ISDIR(st.st_mode),
        "any": stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode),
    }[kind]
    if not ok:
        want = {"file": "a plain file", "dir": "a folder", "any": "a plain file or folder"}[kind]
        raise error(f"{path} is not {want} (a device, FIFO, socket or the wrong kind); refused")
    return real


def _first_link(root: Path, parts: tuple[str, ...]) -> Path:
    """The first component of ROOT/parts that is a symlink (what to name in the error)."""
    cur = root
    for part in Path(*parts).parts if parts else ():
        cur = cur / part
        if cur.is_symlink():
            return cur
    return Path(root, *parts)


def read_confined(
    root: str | os.PathLike,
    *parts: str,
    limit: int,
    what: str = "folder",
    error: type[ZiziError] = ZiziError,
) -> bytes | None:
    """The bytes of the plain file ROOT/parts (None when absent), through `confined`, at
    most `limit` bytes. Opened without following a last link and without blocking, and
    checked again on the open file, so a FIFO or device swapped in after the check is
    refused rather than waited on or read forever."""
    path = confined(root, *parts, kind="file", what=what, error=error)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise error(f"cannot read {Path(root, *parts)}: {e.strerror or e}") from e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{Path(root, *parts)} is not a plain file; refused")
        if st.st_size > limit:
            raise error(
                f"{Path(root, *parts)} is {st.st_size / 2**20:,.0f} MiB, more than the "
                f"{limit / 2**20:,.0f} MiB zizi reads of it; refused"
            )
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{Path(root, *parts)} grew past {limit / 2**20:,.0f} MiB while read; refused")
    return data


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
