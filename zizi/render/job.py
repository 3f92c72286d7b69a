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

QUEUE_FRAMES = 8  # frames in flight between generator and encoder: overlap without hoarding RAM
_DONE = object()


@dataclass
class Output:
    """One channel's file or folder and its provenance record."""

    path: Path
    record: dict[str, Any]


def _embedded(o: Output) -> tuple[dict[str, str], dict[str, str]]:
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
    return out / "provenance.json" if output_kind(out) == "png" else out.with_name(out.name + ".json")


def is_png_sequence(folder: Path) -> bool:
    """Whether `folder` holds only what a PNG-sequence render leaves (frames, provenance):
    the only non-empty folder --force may replace."""
    return all(_PNG_OUTPUT.match(p.name) and not p.is_symlink() and p.is_file()
               for p in folder.iterdir())


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
                raise ZiziError(f"an unfinished render of {p} is in {work}; pass --resume to "
                                "continue it or --force to start again")
            shutil.rmtree(work)
        if resume and work.is_dir():
            try:
                old = json.loads((work / "plan.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old is not None and old.get("plan") != plan:
                diff = sorted(k for k in set(plan) | set(old.get("plan", {}))
                              if plan.get(k) != old.get("plan", {}).get(k))
                raise ZiziError(f"the unfinished render in {work} used other settings "
                                f"({', '.join(diff)}); repeat its command exactly, or pass "
                                "--force to start again")
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ZiziError(f"cannot write into {p.parent}: {e.strerror or e}; choose another "
                            "--out") from e


def run(outputs: list[Output], frames: Callable[[int, int], Iterator[list[np.ndarray]]], *,
        count: int, fps: float, size: tuple[int, int], plan: dict[str, Any], segment_frames: int,
        resume: bool = False, force: bool = False,
        progress: Callable[[int, int], None] | None = None) -> None:
    """Render `count` frames to every output. `frames(start, stop)` yields, per frame, one
    [H, W, 3] uint8 array per output. `progress(done, count)` after each frame."""
    paths = [o.path for o in outputs]
    width, height = size
    writers = []  # created first: a missing ffmpeg or encoder is reported before anything is written
    for o in outputs:
        kind = output_kind(o.path)
        writers.append(SegmentWriter(o.path, kind, fps, width, height,
                                     *_embedded(o)))
    with contextlib.ExitStack() as locks:  # a second render of the same output: one line
        for p in paths:
            locks.enter_context(output_lock(p, what="the render"))
        _run_locked(outputs, writers, frames, count=count, plan=plan,
                    segment_frames=segment_frames, resume=resume, force=force,
                    progress=progress)


def _run_locked(outputs: list[Output], writers: list[SegmentWriter],
                frames: Callable[[int, int], Iterator[list[np.ndarray]]], *, count: int,
                plan: dict[str, Any], segment_frames: int, resume: bool, force: bool,
                progress: Callable[[int, int], None] | None) -> None:
    paths = [o.path for o in outputs]
    prepare_outputs(paths, plan, resume, force)
    for o, w in zip(outputs, writers):
        # the record is kept from the first run, so a resumed file says the same
        old = w.work / "plan.json"
        if resume and old.is_file():
            o.record.update(json.loads(old.read_text(encoding="utf-8"))["record"])
            w.metadata, w.png_text = _embedded(o)
        else:
            write_json(old, {"plan": plan, "record": o.record})
    segments = [(k, a, min(a + segment_frames, count) - a)
                for k, a in enumerate(range(0, count, segment_frames))]
    start_seg = 0
    while start_seg < len(segments) and all(w.finished(*segments[start_seg]) for w in writers):
        start_seg += 1
    done = segments[start_seg][1] if start_seg < len(segments) else count
    if progress is not None:
        progress(done, count)

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
        for k, first, n in segments[start_seg:]:
            put(("begin", (k, first)))
            for per_channel in frames(first, first + n):
                put(("frame", per_channel))
                done += 1
                if progress is not None:
                    progress(done, count)
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
    for w, o in zip(writers, outputs):
        w.finish(len(segments))
        write_bytes(sidecar_path(o.path), provenance.sidecar_bytes(o.record))


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
    if (v !== lead && Math.abs(v.currentTime - lead.currentTime) > {half_frame}) v.currentTime = lead.currentTime;
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
    videos = "\n".join(f'<video src="{html.escape(quote(p.name))}" muted loop playsinline preload="auto" '
                       f'data-channel="{k}" title="channel {k}"></video>'
                       for k, p in enumerate(paths, 1))
    page = WALL_TEMPLATE.format(title=html.escape(f"zizi preview wall: {paths[0].stem}"), cols=cols,
                                videos=videos, statement=html.escape(statement),
                                half_frame=f"{0.5 / fps:.4f}")
    return write_text(folder / "index.html", page)
