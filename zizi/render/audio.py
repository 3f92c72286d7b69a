"""Sound-driven motion: a track's loudness and onsets set how fast the faces move.

The track is decoded by the same ffmpeg binary that encodes the video (imageio-ffmpeg's)
into 16 kHz mono floats, streamed in pieces, so a 135-minute track never sits in memory
whole. For each video frame i (the samples from i/fps to (i+1)/fps) two numbers come out:

- loudness: the RMS of the frame's samples, divided by the track's largest;
- onset strength: spectral flux (the summed rise of log-magnitude spectra from the
  previous frame, as in Bello et al. 2005, "A tutorial on onset detection"), divided by
  the largest; a drum hit or a click is a spike.

Speed per frame is a resting pace plus loudness plus an onset pulse that decays over a
few frames. The render's clock then advances by that speed: the faces travel the same
path, from the same first to the same last frame, but faster at loud moments and in a
jolt on every beat. Everything is computed from the samples alone: the same track always
gives the same video.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from zizi.errors import ZiziError

SAMPLE_RATE = 16_000  # Hz: onsets and loudness need no more; keeps decoding light
REST_SPEED = 0.15  # the pace in silence, relative to a loud beat (faces never stop dead)
LOUD_WEIGHT = 0.5  # share of the speed that follows loudness
ONSET_WEIGHT = 1.0  # share that follows onsets
PULSE_DECAY = 0.5  # per frame: an onset's jolt halves every frame


class AudioError(ZiziError):
    """An audio track is missing or cannot be decoded."""


@dataclass
class Envelope:
    """Per video frame: loudness and onset strength in [0, 1], and the track's length."""

    loudness: list[float]
    onsets: list[float]
    seconds: float  # the whole track's duration

    def speeds(self) -> list[float]:
        """How far the render's clock moves into each frame (any positive unit)."""
        out, pulse = [], 0.0
        for loud, onset in zip(self.loudness, self.onsets):
            pulse = max(onset, pulse * PULSE_DECAY)
            out.append(REST_SPEED + LOUD_WEIGHT * loud + ONSET_WEIGHT * pulse)
        return out


def _samples(track: Path):
    """Yield float32 mono sample arrays of the decoded track, piece by piece."""
    import numpy as np

    from zizi.render.encode import ffmpeg_exe

    if not track.is_file():
        raise AudioError(f"--audio {track}: no such file")
    args = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(track),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "-",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        while True:
            block = proc.stdout.read(1 << 20)
            if not block:
                break
            yield np.frombuffer(block[: len(block) // 4 * 4], dtype="<f4")
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            why = err.splitlines()[-1] if err else f"ffmpeg stopped with status {proc.returncode}"
            raise AudioError(f"cannot read the audio of {track.name}: {why}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            with contextlib.suppress(Exception):
                f.close()


def analyse(track: str | os.PathLike, fps: float, frames: int | None = None) -> Envelope:
    """Loudness and onsets of `track` for each video frame at `fps` (`frames` of them, or as
    many as the track lasts). Frames past the track's end are silent."""
    import numpy as np

    track = Path(track)
    hop = SAMPLE_RATE / fps
    nfft = 1 << max(6, int(np.ceil(np.log2(max(hop, 64)))))
    window = np.hanning(nfft).astype(np.float32)
    buf = np.zeros(0, dtype=np.float32)
    consumed = 0  # samples before buf[0]
    total = 0
    rms: list[float] = []
    flux: list[float] = []
    prev = None

    def frame_bounds(i: int) -> tuple[int, int]:
        return int(round(i * hop)), int(round((i + 1) * hop))

    def take(final: bool) -> None:
        nonlocal buf, consumed, prev
        while frames is None or len(rms) < frames:
            a, b = frame_bounds(len(rms))
            if b - consumed > len(buf) and not final:
                return
            if final and a >= total and frames is None:
                return
            piece = buf[max(a - consumed, 0) : max(b - consumed, 0)]
            rms.append(
                float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if len(piece) else 0.0
            )
            seg = np.zeros(nfft, dtype=np.float32)
            seg[: min(len(piece), nfft)] = piece[:nfft]
            mag = np.log1p(100.0 * np.abs(np.fft.rfft(seg * window)))
            flux.append(0.0 if prev is None else float(np.maximum(mag - prev, 0.0).sum()))
            prev = mag
            drop = max(b - consumed, 0)
            buf, consumed = buf[drop:], consumed + drop

    for block in _samples(track):
        total += len(block)
        buf = np.concatenate([buf, block])
        take(final=False)
    take(final=True)
    if total == 0:
        raise AudioError(f"{track.name} holds no audio samples")
    loud = np.asarray(rms)
    on = np.asarray(flux)
    loud = loud / loud.max() if loud.max() > 0 else loud
    on = on / on.max() if on.max() > 0 else on
    return Envelope([float(x) for x in loud], [float(x) for x in on], total / SAMPLE_RATE)


def track_frames(track: str | os.PathLike, fps: float) -> int:
    """How many video frames the track lasts (at least 1)."""
    return max(1, len(analyse(track, fps).loudness))


def clock(speeds: list[float], loop: bool) -> list[float]:
    """Frame i -> a fractional frame index of an even-paced render: frame 0 at 0, the last
    at n-1 (a loop: the frame after the last at n), advancing by each frame's speed."""
    import numpy as np

    n = len(speeds)
    if n == 1:
        return [0.0]
    steps = np.asarray(speeds[1:] + ([speeds[0]] if loop else []), dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    span = n if loop else n - 1
    x = cum / cum[-1] * span
    out = [float(v) for v in x[:n]]
    out[0] = 0.0
    if not loop:
        out[-1] = float(n - 1)  # the last frame lands exactly on the path's end
    return out


def mux(
    video: Path,
    track: str | os.PathLike,
    seconds: float,
    metadata: dict[str, str] | None = None,
    container: str | None = None,
) -> None:
    """Put `track` into `video` as its sound (AAC in MP4, PCM in MOV), cut or padded with
    silence to the video's length; the video stream is copied untouched, the container
    tags are set again (`metadata`: the MOV muxer does not carry them over by itself) and
    the file is replaced atomically. `container` ('mp4' or 'mov') when `video`'s name does
    not say it (the render's temporary file, muxed before it is signed and renamed)."""
    from zizi.files import _fsync_dir, temp_beside
    from zizi.render.encode import ffmpeg_exe

    video = Path(video)
    fmt = container or ("mp4" if video.suffix.lower() == ".mp4" else "mov")
    codec = ["-c:a", "aac", "-b:a", "192k"] if fmt == "mp4" else ["-c:a", "pcm_s16le"]
    fd, tmp = temp_beside(video, AudioError)
    os.close(fd)
    args = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(video),
        "-i",
        str(track),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "copy",
        *codec,
        "-af",
        "apad",
        "-t",
        f"{seconds:.6f}",
        "-map_metadata",
        "0",
        "-movflags",
        "+faststart",
    ]
    for k, v in (metadata or {}).items():
        args += ["-metadata", f"{k}={v}"]
    args += ["-f", fmt, tmp]
    try:
        res = subprocess.run(args, capture_output=True, text=True, start_new_session=True)
        if res.returncode != 0:
            lines = res.stderr.strip().splitlines()
            raise AudioError(
                f"could not add the sound to {video.name}: "
                f"{lines[-1] if lines else 'ffmpeg failed'}"
            )
        os.replace(tmp, video)
        _fsync_dir(video.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
