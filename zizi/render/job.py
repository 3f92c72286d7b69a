"""Running a render: segments, resume, and generation overlapped with encoding.

The producer (the caller's `frames(start, stop)` iterator, running the generator) and a
writer thread (feeding ffmpeg or writing PNGs) meet at a bounded queue, so neither waits
on the other for long and memory stays at a few frames. Each output's work folder holds
`plan.json`: a resumed render must have the same plan, and then continues from the
first segment that some channel has not finished; frames depend only on their index,
so the result equals an uninterrupted render.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ZiziError
from zizi.files import check_replaceable, output_lock, write_bytes, write_json, write_text
from zizi.render import provenance
from zizi.render.encode import SegmentWriter, output_kind, work_dir

if TYPE_CHECKING:
    import numpy as np

    from zizi.credentials.keys import Credentials
    from zizi.files import Seal

QUEUE_FRAMES = 8  # frames in flight between generator and encoder: overlap without hoarding RAM
_DONE = object()


@dataclass
class Output:
    """One channel's file or folder and its provenance record."""

    path: Path
    record: dict[str, Any]


def embedded(o: Output) -> tuple[dict[str, str], dict[str, str]]:
    """(container tags, PNG text) of an output: short, bound to its sidecar by sha256."""
    name = sidecar_path(o.path).name
    return provenance.ffmpeg_metadata(o.record, name), provenance.png_text(o.record, name)


def channel_paths(out: Path, channels: int) -> list[Path]:
    """`renders/zizi.mp4` -> itself, or zizi-1.mp4 ... zizi-N.mp4 beside it for N channels."""
    if channels == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(1, channels + 1)]


def sidecar_path(out: Path) -> Path:
    """Where an output's provenance JSON goes: NAME.mp4.json beside a video, inside a folder."""
    return (
        out / "provenance.json" if output_kind(out) == "png" else out.with_name(out.name + ".json")
    )


def is_png_sequence(folder: Path) -> bool:
    """Whether `folder` holds only what a PNG-sequence render leaves (frames, provenance):
    the only non-empty folder --force may replace."""
    return all(
        _PNG_OUTPUT.match(p.name) and not p.is_symlink() and p.is_file() for p in folder.iterdir()
    )


_PNG_OUTPUT = re.compile(r"^(frame\d{6,}\.png|provenance\.json|\.[^/]*\.partial)$")


def prepare_outputs(paths: list[Path], plan: dict[str, Any], resume: bool, force: bool) -> None:
    """Refuse to clobber, or set up/validate the work folders for a (resumed) render."""
    for p in paths:
        if output_kind(p) == "png":
            check_replaceable(p, is_png_sequence, what="PNG-sequence render")
        elif p.is_dir():
            raise ZiziError(f"--out {p} is a folder; a video needs a file name (NAME.mp4)")
        work = work_dir(p)
        if p.exists() and not force and not (resume and work.is_dir()):
            raise ZiziError(f"{p} already exists; pass --force to overwrite it")
        if work.is_dir() and not resume:
            if not force:
                raise ZiziError(
                    f"an unfinished render of {p} is in {work}; pass --resume to "
                    "continue it or --force to start again"
                )
            shutil.rmtree(work)
        if resume and work.is_dir():
            try:
                old = json.loads((work / "plan.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old is not None and old.get("plan") != plan:
                diff = sorted(
                    k
                    for k in set(plan) | set(old.get("plan", {}))
                    if plan.get(k) != old.get("plan", {}).get(k)
                )
                raise ZiziError(
                    f"the unfinished render in {work} used other settings "
                    f"({', '.join(diff)}); repeat its command exactly, or pass "
                    "--force to start again"
                )
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ZiziError(
                f"cannot write into {p.parent}: {e.strerror or e}; choose another --out"
            ) from e


def _then(
    first: Callable[[Path, Output], None] | None, o: Output, seal: Seal | None
) -> Seal | None:
    """The joined video's seal: `first` changes the temporary file, then `seal` signs it."""
    if first is None:
        return seal

    def both(tmp: Path, final: Path) -> None:
        first(tmp, o)
        if seal is not None:
            seal(tmp, final)

    return both


# One frame: an [H, W, 3] uint8 array per output, or a call that returns them (run on the
# writer thread, so the producer hands a frame over without waiting for its pixels).
FrameSource = list["np.ndarray"] | Callable[[], list["np.ndarray"]]


def run(
    outputs: list[Output],
    frames: Callable[[int, int], Iterator[FrameSource]],
    *,
    count: int,
    fps: float,
    size: tuple[int, int],
    plan: dict[str, Any],
    segment_frames: int,
    resume: bool = False,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    credentials: Credentials | None = None,
    encoder: str | None = None,
    preset: str | None = None,
    finish_video: Callable[[Path, Output], None] | None = None,
) -> bool:
    """Render `count` frames to every output. `frames(start, stop)` yields, per frame, one
    [H, W, 3] uint8 array per output (or a call returning them: see FrameSource).
    `progress(done, count)` after each frame. `encoder`, `preset`: the MP4 encoder's.
    `credentials`: sign each final file (C2PA) with its record before it is renamed.
    `finish_video(tmp, output)`: a last change to a joined video's temporary file (the
    sound), made before it is signed and renamed, so the final name only ever holds the
    finished, signed file.

    With `shard=(K, N)` only shard K's segments are rendered into the work folders (which
    other shards share) and nothing is joined; a later `resume` without a shard joins
    them all once every segment exists. Returns whether the outputs were finished.
    """
    if shard is not None and force:
        raise ZiziError(
            "--force with a shard would delete the other shards' segments; remove "
            "the work folder yourself to start a sharded render again"
        )
    paths = [o.path for o in outputs]
    width, height = size
    # created first: a missing ffmpeg or encoder is reported before anything is written
    writers = []
    for o in outputs:
        kind = output_kind(o.path)
        writers.append(
            SegmentWriter(
                o.path, kind, fps, width, height, *embedded(o), encoder=encoder, preset=preset
            )
        )
    # One render of an output at a time; shards of one render run side by side, so each
    # shard locks its own name.
    locked = (
        paths
        if shard is None
        else [p.with_name(f"{p.name}.shard-{shard[0]}-of-{shard[1]}") for p in paths]
    )
    with contextlib.ExitStack() as locks:  # a second render of the same output: one line
        for p in locked:
            locks.enter_context(output_lock(p, what="the render"))
        return _run_locked(
            outputs,
            writers,
            frames,
            count=count,
            plan=plan,
            segment_frames=segment_frames,
            resume=resume,
            force=force,
            shard=shard,
            progress=progress,
            credentials=credentials,
            finish_video=finish_video,
        )


def _run_locked(
    outputs: list[Output],
    writers: list[SegmentWriter],
    frames: Callable[[int, int], Iterator[FrameSource]],
    *,
    count: int,
    plan: dict[str, Any],
    segment_frames: int,
    resume: bool,
    force: bool,
    shard: tuple[int, int] | None,
    progress: Callable[[int, int], None] | None,
    credentials: Credentials | None,
    finish_video: Callable[[Path, Output], None] | None,
) -> bool:
    from zizi.credentials.manifest import sealer

    paths = [o.path for o in outputs]
    prepare_outputs(paths, plan, resume or shard is not None, force)
    for o, w in zip(outputs, writers):
        # the record is kept from the first run, so a resumed file says the same
        old = w.work / "plan.json"
        if (resume or shard is not None) and old.is_file():
            o.record.update(json.loads(old.read_text(encoding="utf-8"))["record"])
            w.metadata, w.png_text = embedded(o)
        else:
            write_json(old, {"plan": plan, "record": o.record})
        w.seal = (
            _then(finish_video, o, sealer(o.record, credentials))
            if w.kind != "png"
            else sealer(o.record, credentials)
        )
    segments = [
        (k, a, min(a + segment_frames, count) - a)
        for k, a in enumerate(range(0, count, segment_frames))
    ]
    todo, done, count_here = _segments_to_render(segments, writers, shard, resume)
    if progress is not None:
        progress(done, count_here)

    q: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    error: list[BaseException] = []
    stop = threading.Event()

    def writer_loop() -> None:
        try:
            while not stop.is_set():
                try:
                    item = q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is _DONE or stop.is_set():
                    return
                op, payload = item
                if op == "begin":
                    for w in writers:
                        w.begin(*payload)
                elif op == "frame":
                    if callable(payload):
                        payload = payload()
                    for w, f in zip(writers, payload):
                        w.write(f)
                elif op == "end":
                    for w in writers:
                        w.end()
        except BaseException as e:  # handed to the producer, which raises it
            error.append(e)
            stop.set()

    thread = threading.Thread(target=writer_loop, name="zizi-render-writer", daemon=True)
    thread.start()

    def put(item) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise error[0]

    try:
        for k, first, n in todo:
            put(("begin", (k, first)))
            for per_channel in frames(first, first + n):
                put(("frame", per_channel))
                done += 1
                if progress is not None:
                    progress(done, count_here)
            put(("end", None))
        put(_DONE)
        thread.join()
        if error:
            raise error[0]
    except BaseException:
        # let the writer finish the frame in hand, then stop ffmpeg and drop the open segment
        stop.set()
        thread.join(timeout=30)
        for w in writers:
            w.abort()
        raise
    if shard is not None:
        return False
    for w, o in zip(writers, outputs):
        w.finish(len(segments))
        write_bytes(sidecar_path(o.path), provenance.sidecar_bytes(o.record))
    return True


def _segments_to_render(
    segments: list[tuple[int, int, int]],
    writers: list[SegmentWriter],
    shard: tuple[int, int] | None,
    resume: bool,
) -> tuple[list[tuple[int, int, int]], int, int]:
    """(segments to render now, frames already done, frames this process answers for).

    A shard takes its share and skips what it finished before; the join after a sharded
    render (`resume`, no shard, the work folder marked) renders nothing and names what is
    missing; otherwise a render continues from the first segment not finished.
    """
    from zizi.render import shards

    sharded = writers[0].work / shards.MARKER

    def finished(seg: tuple[int, int, int]) -> bool:
        return all(w.finished(*seg) for w in writers)

    count = sum(seg[2] for seg in segments)
    if shard is not None:
        write_text(sharded, f"{shard[1]}\n")
        mine = shards.shard_range(len(segments), *shard)
        share = segments[mine.start : mine.stop]
        todo = [seg for seg in share if not finished(seg)]
        total = sum(seg[2] for seg in share)
        return todo, total - sum(seg[2] for seg in todo), total
    if resume and sharded.is_file():
        n_shards = int(sharded.read_text().strip() or 1)
        missing = [seg for seg in segments if not finished(seg)]
        if missing:
            listed = ", ".join(
                f"{k} (frames {a}-{a + m - 1}, shard "
                f"{shards.owner(k, len(segments), n_shards)}/{n_shards})"
                for k, a, m in missing[:8]
            )
            more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            raise ZiziError(
                f"cannot join yet: {len(missing)} of {len(segments)} segments are "
                f"missing: {listed}{more}; run those shards (or --resume with "
                "their --shard) and try again"
            )
        return [], count, count
    start = 0
    while start < len(segments) and finished(segments[start]):
        start += 1
    return segments[start:], (segments[start][1] if start < len(segments) else count), count


WALL_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="zizi">
<title>{title}</title>
<style>
 html,body{{margin:0;background:#000;color:#888;font:12px sans-serif;height:100%}}
 #wall{{display:grid;grid-template-columns:repeat({cols},1fr);gap:4px;padding:4px}}
 video{{width:100%;height:auto;display:block;background:#111}}
 p{{margin:4px}}
</style></head><body>
<div id="wall">
{videos}
</div>
<p>{statement}</p>
<script>
// Every channel starts together and follows channel 1's clock; drift over 1/2 frame is corrected.
const vids = Array.from(document.querySelectorAll("video"));
const lead = vids[0];
function startAll() {{
  if (!vids.every(v => v.readyState >= 2)) return;
  vids.forEach(v => {{ v.currentTime = 0; v.play().catch(() => {{}}); }});
}}
vids.forEach(v => v.addEventListener("loadeddata", startAll));
function sync() {{
  vids.forEach(v => {{
    if (v !== lead && Math.abs(v.currentTime - lead.currentTime) > {half_frame})
      v.currentTime = lead.currentTime;
    v.dataset.time = v.currentTime.toFixed(3);
    v.dataset.playing = (!v.paused && v.currentTime > 0) ? "yes" : "no";
  }});
  requestAnimationFrame(sync);
}}
requestAnimationFrame(sync);
</script>
</body></html>
"""


def write_wall(paths: list[Path], fps: float, statement: str) -> Path:
    """index.html beside the channels: plays them side by side, in sync, looping."""
    import html
    import math
    from urllib.parse import quote

    folder = paths[0].parent
    cols = math.ceil(math.sqrt(len(paths))) if len(paths) > 3 else len(paths)
    # the name as a relative URL: `?`, `#` and `%` in a file name are data, not URL syntax
    videos = "\n".join(
        f'<video src="{html.escape(quote(p.name))}" muted loop playsinline preload="auto" '
        f'data-channel="{k}" title="channel {k}"></video>'
        for k, p in enumerate(paths, 1)
    )
    page = WALL_TEMPLATE.format(
        title=html.escape(f"zizi preview wall: {paths[0].stem}"),
        cols=cols,
        videos=videos,
        statement=html.escape(statement),
        half_frame=f"{0.5 / fps:.4f}",
    )
    return write_text(folder / "index.html", page)
