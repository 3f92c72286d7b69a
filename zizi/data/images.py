"""Decoding any image a person brings into a clean sRGB RGB array.

One entry point, `decode`, turns file bytes into an upright 8-bit RGB image: EXIF
orientation applied, ICC profile converted to sRGB, palette/16-bit/CMYK/alpha handled.
Anything unusable raises `SkipImage` with a reason a person can read in the report.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from zizi.errors import DatasetError

if TYPE_CHECKING:
    from PIL import Image

# Default ceiling on decoded pixels. Pillow's own default (~89 Mpx) is kept as the
# order of magnitude: a 12k×7k panorama still loads, a 40000×40000 header does not.
DEFAULT_MAX_PIXELS = 100_000_000
# Default ceiling on a source file's size. The largest real photo sources (a 100 Mpx
# 16-bit TIFF) stay under ~600 MB; a 6 GB sparse file is refused before it is read.
DEFAULT_MAX_FILE_MB = 1024
_CHUNK = 1 << 20  # bytes per read when hashing a file

IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .webp .gif .bmp .dib .tif .tiff .heic .heif .avif .ppm .pgm "
    ".pbm .pnm .tga .ico .jp2 .j2k .jxl .psd".split()
)
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".avif"})


class SkipImage(DatasetError):
    """This file cannot become a training image; `reason` says why (goes to report.json)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # upright, mode "RGB", sRGB
    source_size: tuple[int, int]  # (width, height) as stored, before orientation
    source_format: str  # Pillow's format name, e.g. "JPEG"
    oriented: bool  # an EXIF orientation other than 1 was applied
    had_alpha: bool  # alpha was composited onto the background
    icc_converted: bool  # an embedded ICC profile was converted to sRGB


def heif_available() -> bool:
    """Register the HEIC/AVIF opener if pillow-heif is installed; True when it is."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def too_large(size: int, max_file_mb: int) -> str | None:
    """The skip reason for a file of `size` bytes, or None when it is within the limit."""
    if size <= max_file_mb * 2**20:
        return None
    return f"too large: {size / 2**20:,.0f} MiB, over the {max_file_mb:,} MiB limit (--max-file-mb)"


def file_sha256(f: IO[bytes]) -> str:
    """The hex sha256 of an open file, read in 1 MiB pieces from its start."""
    h = hashlib.sha256()
    f.seek(0)
    while block := f.read(_CHUNK):
        h.update(block)
    f.seek(0)
    return h.hexdigest()


def read_limited(path: Path, max_file_mb: int = DEFAULT_MAX_FILE_MB) -> bytes:
    """The bytes of `path`, or `SkipImage` when it is unreadable or too large."""
    try:
        with open(path, "rb") as f:
            why = too_large(os.fstat(f.fileno()).st_size, max_file_mb)
            if why:
                raise SkipImage(why)
            return f.read()
    except OSError as e:
        raise SkipImage(f"unreadable: {e.strerror or e}") from None


def decode(
    data: bytes | IO[bytes],
    *,
    suffix: str = "",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: tuple[int, int, int] = (255, 255, 255),
    draft_min_side: int | None = None,
) -> Decoded:
    """Decode file bytes to an upright sRGB RGB image, or raise `SkipImage`.

    `data` is the file's bytes or an open binary file: a file is read as the decoder
    needs it, so memory holds the decoded pixels (bounded by `max_pixels`), not the file.
    `draft_min_side` lets JPEG decode at 1/2, 1/4 or 1/8 scale while keeping the short
    side at least that long: a 1024² phone photo becoming a 256² crop decodes 4× faster.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(data, (bytes, bytearray)):
        fp: IO[bytes] = io.BytesIO(data)
    else:
        fp = data
    head = fp.read(16)
    fp.seek(0)
    if not head:
        raise SkipImage("empty file (0 bytes)")
    if suffix.lower() in HEIF_SUFFIXES and not heif_available():
        raise SkipImage("HEIC/AVIF needs the pillow-heif plugin: pip install 'zizi[heif]'")
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1× and 2× its own limit and raises above; we judge
            # the size ourselves below, against our explicit max_pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError:
        raise SkipImage("decompression bomb: header claims more pixels than allowed") from None
    except UnidentifiedImageError:
        kind = _sniff(head)
        if kind:  # a half-copied file: the signature is there, the header is cut
            raise SkipImage(
                f"truncated or corrupt: {kind} signature but unreadable header"
            ) from None
        raise SkipImage("not an image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise SkipImage(f"corrupt: {e}") from None
    width, height = im.size
    if width * height > max_pixels:
        raise SkipImage(
            f"decompression bomb: {width}×{height} = {width * height:,} pixels "
            f"exceeds max {max_pixels:,}"
        )
    if width < 1 or height < 1:
        raise SkipImage("corrupt: zero-sized image")
    fmt = im.format or "unknown"
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animated GIF/WebP/APNG: first frame only
        if draft_min_side and fmt == "JPEG":
            scale = draft_min_side / min(width, height)
            if scale < 1:
                im.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
        im.load()
    except Image.DecompressionBombError:
        raise SkipImage("decompression bomb: too many pixels when decoding") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        msg = str(e)
        kind = "truncated" if "truncat" in msg.lower() else "corrupt"
        raise SkipImage(f"{kind}: {msg}") from None

    orientation = im.getexif().get(0x0112, 1)
    im = ImageOps.exif_transpose(im)
    icc = im.info.get("icc_profile")
    icc_converted = False
    if icc and im.mode == "CMYK":
        im, icc_converted = _icc_to_srgb(im, icc, "CMYK")
    im, had_alpha = _to_rgb(im, background)
    if icc and not icc_converted:
        im, icc_converted = _icc_to_srgb(im, icc, "RGB")
    return Decoded(
        image=im,
        source_size=(width, height),
        source_format=fmt,
        oriented=orientation not in (1, None),
        had_alpha=had_alpha,
        icc_converted=icc_converted,
    )


_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _sniff(data: bytes) -> str | None:
    """The format a file's magic bytes claim, for a clearer reason than 'not an image'."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, bool]:
    """Any Pillow mode -> 8-bit RGB; alpha composited on `background`."""
    import numpy as np
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: scale by the type's range, not clip (Pillow's convert("L") clips).
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB"), False
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB"), False
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    has_alpha = im.mode == "RGBA"
    if has_alpha:
        alpha = im.getchannel("A")
        if alpha.getextrema() == (255, 255):
            return im.convert("RGB"), False
        base = Image.new("RGB", im.size, background)
        base.paste(im.convert("RGB"), mask=alpha)
        return base, True
    if im.mode != "RGB":
        # CMYK, YCbCr, LAB, L, 1, RGBX: Pillow's converters. CMYK without a profile uses
        # the naive inversion; with a profile _icc_to_srgb redoes it properly.
        im = im.convert("RGB")
    return im, False


def _icc_to_srgb(im: Image.Image, icc: bytes, space: str) -> tuple[Image.Image, bool]:
    """Convert from the embedded profile to sRGB when it describes `space` ("RGB" or
    "CMYK"); on a broken or mismatched profile keep the pixels as they are."""
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if src.profile.xcolor_space.strip() != space:
            return im, False  # e.g. a grey profile on an image we already made RGB
        dst = ImageCms.createProfile("sRGB")
        out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        return (out if out is not None else im), True
    except (OSError, ImageCms.PyCMSError, ValueError):
        return im, False


def strip_to_png_bytes(im: Image.Image, compress_level: int = 6) -> bytes:
    """Encode as PNG with no metadata chunks (no EXIF, XMP, ICC, text, GPS)."""
    from PIL import Image

    clean = Image.frombytes("RGB", im.size, im.convert("RGB").tobytes())
    buf = io.BytesIO()
    clean.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
