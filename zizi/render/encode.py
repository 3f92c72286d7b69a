"""Frame writers: H.264 MP4, ProRes MOV, or a PNG sequence, segment by segment.

A long render is cut into segments. Each finished segment is a complete file in a work
folder beside the output (`.NAME.zizi-render/`), so a crash loses at most one segment
and `--resume` carries on from there. Frames are piped to ffmpeg as raw RGB (never
written as temporary PNGs). When every segment is done, video segments are joined
losslessly with ffmpeg's concat demuxer (`-c copy`), into a temporary name beside the
output that is renamed into place: an unfinished video never sits under the final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ZiziError
from zizi.files import Seal, _fsync_dir, temp_beside, write_png

if TYPE_CHECKING:
    import numpy as np

WORK_SUFFIX = ".zizi-render"
CRF = 18  # x264 constant quality: visually lossless for faces, ~1/10 the size of CRF 0
PRESET = "medium"  # x264's default speed/size balance; encoding stays under the generator's time

# kind -> (encoder, container format for ffmpeg, extra output options, what a person calls it)
FORMATS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "mp4": ("libx264", "mp4", {"pix_fmt": "yuv420p", "crf": CRF, "preset": PRESET}, "H.264"),
    # ProRes 422 HQ (profile 3), 10-bit 4:2:2: what exhibition players and editors expect
    "mov": ("prores_ks", "mov", {"pix_fmt": "yuv422p10le", "profile:v": 3}, "ProRes 422 HQ"),
}


# H.264/HEVC encoders for an .mp4 and their speed presets. x264 spends CPU (at 1024²
# preset medium costs ~155 ms of CPU per frame, veryfast ~54 ms: benchmarks/RESULTS.md);
# NVENC encodes on the GPU's video engine, so a GPU render stops being encoder-bound.
# encoder -> (quality options, presets it accepts, its default preset)
MP4_ENCODERS: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    "libx264": (
        {"pix_fmt": "yuv420p", "crf": CRF},
        (
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ),
        PRESET,
    ),
    # constant-quality VBR at about x264's CRF 18 (NVENC's cq scale runs a little higher)
    "h264_nvenc": (
        {"pix_fmt": "yuv420p", "rc": "vbr", "cq": 19, "b:v": 0},
        ("p1", "p2", "p3", "p4", "p5", "p6", "p7"),
        "p5",
    ),
    "hevc_nvenc": (
        {"pix_fmt": "yuv420p", "rc": "vbr", "cq": 21, "b:v": 0, "tag:v": "hvc1"},
        ("p1", "p2", "p3", "p4", "p5", "p6", "p7"),
        "p5",
    ),
}


def encoder_options(
    kind: str, encoder: str | None, preset: str | None
) -> tuple[str, dict[str, Any]]:
    """(ffmpeg encoder, output options) for `kind`, checking --encoder and --preset."""
    if kind != "mp4":
        if encoder is not None or preset is not None:
            raise ZiziError(
                f"--encoder and --preset apply to .mp4 output, not {kind} "
                f"({FORMATS[kind][3] if kind in FORMATS else 'PNG frames'})"
            )
        enc, _, opts, _ = FORMATS[kind] if kind in FORMATS else ("", "", {}, "")
        return enc, dict(opts)
    encoder = encoder or "libx264"
    if encoder not in MP4_ENCODERS:
        raise ZiziError(f"--encoder {encoder}: use one of {', '.join(MP4_ENCODERS)}")
    opts, presets, default = MP4_ENCODERS[encoder]
    preset = preset or default
    if preset not in presets:
        raise ZiziError(
            f"--preset {preset} is not a {encoder} preset; use one of {', '.join(presets)}"
        )
    return encoder, {**opts, "preset": preset}


# H.264 segments without B-frames: joined losslessly by the concat demuxer, every frame
# keeps its exact timestamp. With B-frames each join opens a composition-delay gap (edit
# lists or negative offsets) that decoders fill with repeated frames, and Matroska rounds
# timestamps to 1 ms. The price is a somewhat larger file at the same CRF quality.
SEGMENT_OPTS: dict[str, dict[str, Any]] = {"mp4": {"bf": 0}}


def _concat_quote(text: str) -> str:
    """A value quoted for ffmpeg's concat listing (single quotes; a quote is '\\'')."""
    return "'" + text.replace("'", "'\\''") + "'"


class EncoderError(ZiziError):
    """ffmpeg is missing, lacks an encoder, or failed while encoding."""


def output_kind(out: Path) -> str:
    """'mp4', 'mov' or 'png' (a folder) from the --out name."""
    suffix = out.suffix.lower()
    if suffix in (".mp4", ".mov"):
        return suffix[1:]
    if suffix:
        raise ZiziError(
            f"--out {out.name}: use NAME.mp4 (H.264), NAME.mov (ProRes 422 HQ) or a "
            "folder name for a PNG sequence"
        )
    return "png"


def ffmpeg_exe() -> str:
    """The ffmpeg binary: the one imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE), else the
    system's."""
    exe = None
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # no bundled binary for this platform: fall back to PATH
        exe = shutil.which("ffmpeg")
    if not exe or not (os.path.isfile(exe) or shutil.which(exe)):
        raise EncoderError(
            f"ffmpeg not found{f' at {exe}' if exe else ''}; "
            "`pip install imageio-ffmpeg` or install ffmpeg, or write a PNG sequence "
            "(--out FOLDER)"
        )
    return exe


_CHECKED: dict[tuple[str, str], bool] = {}


def check_encoder(exe: str, kind: str, encoder: str | None = None) -> None:
    """Fail with one line naming the encoder when this ffmpeg cannot write `kind`."""
    default, _, _, name = FORMATS[kind]
    encoder = encoder or default
    key = (exe, encoder)
    if key not in _CHECKED:
        try:
            listing = subprocess.run(
                [exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=60
            ).stdout
        except OSError as e:
            raise EncoderError(f"cannot run ffmpeg at {exe}: {e.strerror or e}") from e
        _CHECKED[key] = any(line.split()[1:2] == [encoder] for line in listing.splitlines())
    if not _CHECKED[key]:
        if encoder.endswith("_nvenc"):
            raise EncoderError(
                f"the ffmpeg at {exe} lacks the {encoder} encoder (NVIDIA NVENC); "
                "use an ffmpeg built with NVENC (IMAGEIO_FFMPEG_EXE=PATH), or "
                "--encoder libx264"
            )
        raise EncoderError(
            f"the ffmpeg at {exe} lacks the {encoder} encoder ({name}); install an "
            "ffmpeg built with it (`pip install imageio-ffmpeg` ships one)"
        )


def has_encoder(encoder: str) -> bool:
    """Whether the ffmpeg zizi would use lists `encoder` (e.g. h264_nvenc on a GPU machine)."""
    try:
        check_encoder(ffmpeg_exe(), "mp4", encoder)
    except EncoderError:
        return False
    return True


def work_dir(out: Path) -> Path:
    """The folder beside `out` that holds a render's finished segments and its plan."""
    return out.parent / f".{out.name}{WORK_SUFFIX}"


class SegmentWriter:
    """Writes one output (one channel) in segments; `finish` makes the final file."""

    def __init__(
        self,
        out: Path,
        kind: str,
        fps: float,
        width: int,
        height: int,
        metadata: dict[str, str],
        png_text: dict[str, str],
        encoder: str | None = None,
        preset: str | None = None,
    ) -> None:
        self.out, self.kind, self.fps = out, kind, fps
        self.encoder, self.opts = encoder_options(kind, encoder, preset)
        self.width, self.height = width, height
        self.metadata, self.png_text = metadata, png_text
        self.seal: Seal | None = None  # signs each final file (frame PNG or joined video)
        self.work = work_dir(out)
        self.exe = None if kind == "png" else ffmpeg_exe()
        if self.exe is not None:
            check_encoder(self.exe, kind, self.encoder)
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None
        self._seg: Path | None = None
        self._log = None
        self._frame = 0

    # --- segments -------------------------------------------------------------------

    def segment_path(self, k: int) -> Path:
        return self.work / f"seg{k:06d}.{self.kind}"

    def frame_path(self, i: int) -> Path:
        return self.work / "frames" / f"frame{i:06d}.png"

    def finished(self, k: int, first: int, count: int) -> bool:
        """Whether segment k (frames first..first+count-1) was completed by an earlier run."""
        if self.kind == "png":
            return all(self.frame_path(i).is_file() for i in range(first, first + count))
        return self.segment_path(k).is_file()

    def begin(self, k: int, first: int) -> None:
        self._frame = first
        if self.kind == "png":
            return
        import ffmpeg

        _, fmt, _, _ = FORMATS[self.kind]
        encoder, opts = self.encoder, self.opts
        self._seg = self.segment_path(k)
        fd, self._tmp = temp_beside(self._seg, EncoderError)
        os.close(fd)
        stream = ffmpeg.input(
            "pipe:",
            format="rawvideo",
            pix_fmt="rgb24",
            s=f"{self.width}x{self.height}",
            framerate=self.fps,
        )
        stream = ffmpeg.output(
            stream,
            f"file:{self._tmp}",
            vcodec=encoder,
            f=fmt,
            r=self.fps,
            **opts,
            **SEGMENT_OPTS.get(self.kind, {}),
        )
        args = ffmpeg.compile(
            stream.global_args("-hide_banner", "-nostdin", "-loglevel", "error"),
            cmd=self.exe,
            overwrite_output=True,
        )
        self._log = open(self.work / "ffmpeg.log", "ab")  # noqa: SIM115 - closed in end/abort
        try:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,
            )
        except OSError as e:
            self._cleanup()
            raise EncoderError(f"cannot run ffmpeg at {self.exe}: {e.strerror or e}") from e

    def write(self, frame: np.ndarray) -> None:
        """Append one [H, W, 3] uint8 frame to the open segment."""
        if self.kind == "png":
            write_png(self.frame_path(self._frame), frame, text=self.png_text, seal=self.seal)
        else:
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(frame.tobytes())
            except OSError:  # ffmpeg ended early (full disk, bad option): report its reason
                self._proc.wait()
                raise self._failure() from None
        self._frame += 1

    def end(self) -> None:
        """Close the open segment; its file appears under its final segment name."""
        if self.kind == "png":
            return
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        if self._proc.wait() != 0:
            raise self._failure()
        assert self._seg is not None and self._tmp is not None
        os.replace(self._tmp, self._seg)
        _fsync_dir(self._seg.parent)
        self._tmp = None
        self._cleanup()

    def abort(self) -> None:
        """Stop an open segment and remove its partial file (finished segments stay)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None

    def _failure(self) -> EncoderError:
        lines: list[str] = []
        with contextlib.suppress(OSError):
            lines = (self.work / "ffmpeg.log").read_text(errors="replace").strip().splitlines()
        code = self._proc.returncode if self._proc is not None else None
        self.abort()
        full = shutil.disk_usage(self.work).free < 64 << 20
        if lines:
            log = lines[-1]
        elif code is not None and code < 0:
            log = f"ffmpeg was killed by {signal.Signals(-code).name}"
        else:
            log = f"ffmpeg stopped with exit status {code}"
        why = "the disk is full" if full or "No space" in log else log
        return EncoderError(
            f"could not write {self.out}: {why}; nothing was written under that "
            "name (finished segments are kept; free space and use --resume)"
        )

    # --- the final file -------------------------------------------------------------

    def finish(self, segments: int) -> None:
        """Join the segments (or move the frames) into `out`; remove the work folder."""
        if self.kind == "png":
            frames = self.work / "frames"
            if self.out.exists():
                shutil.rmtree(self.out) if self.out.is_dir() else self.out.unlink()
            os.replace(frames, self.out)
            _fsync_dir(self.out.parent)
        else:
            self._concat(segments)
        shutil.rmtree(self.work, ignore_errors=True)

    def _concat(self, segments: int) -> None:
        import ffmpeg

        listing = self.work / "segments.txt"
        # absolute `file:` URLs: ffmpeg resolves a relative entry against the listing's path
        # as a URL, where `#` and `?` in a folder name would start a fragment or a query
        urls = ["file:" + str(self.segment_path(k).resolve()) for k in range(segments)]
        listing.write_text("".join(f"file {_concat_quote(u)}\n" for u in urls))
        fd, tmp = temp_beside(self.out, EncoderError)
        os.close(fd)
        _, fmt, _, _ = FORMATS[self.kind]
        meta = {f"metadata:g:{n}": f"{k}={v}" for n, (k, v) in enumerate(self.metadata.items())}
        stream = ffmpeg.output(
            ffmpeg.input(f"file:{listing.resolve()}", f="concat", safe=0),
            f"file:{tmp}",
            c="copy",
            f=fmt,
            map_metadata=-1,
            movflags="+faststart",
            **meta,
        )
        args = ffmpeg.compile(
            stream.global_args("-hide_banner", "-nostdin", "-loglevel", "error"),
            cmd=self.exe,
            overwrite_output=True,
        )
        try:
            res = subprocess.run(args, capture_output=True, text=True, start_new_session=True)
            if res.returncode != 0:
                lines = res.stderr.strip().splitlines()
                why = (
                    "the disk is full"
                    if "No space" in res.stderr
                    else (lines[-1] if lines else "ffmpeg failed")
                )
                raise EncoderError(
                    f"could not write {self.out}: {why}; nothing was written under "
                    "that name (segments are kept; use --resume)"
                )
            if self.seal is not None:  # the joined file, once; segments are never signed
                self.seal(Path(tmp), self.out)
            os.replace(tmp, self.out)
            _fsync_dir(self.out.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
