"""A messy source folder, built by the tests: what workshop participants really bring."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Sources that must come out as images (relative path -> note), and those that must be
# reported (relative path -> a word the reason must contain).
GOOD = [
    "alpha.png",
    "anim.gif",
    "cmyk.jpg",
    "deep16.png",
    "dup_of_rgb.bmp",
    "img.tiff",
    "img.webp",
    "near_of_rgb.jpg",
    "palette.gif",
    "rgb.png",
    "rotated_gps.jpg",
    "sub/nested.png",
    "ünïcode 顔.png",
]
BAD = {
    "bomb.png": "decompression bomb",
    "empty.jpg": "empty",
    "notes.txt": "not an image",
    "photo.heic": "heic",
    "sub/loop": "symlink loop",
    "text.png": "not an image",
    "tiny.png": "too small",
    "truncated.jpg": "truncated",
}


def smooth_noise(seed: int, size: tuple[int, int]) -> Image.Image:
    """A distinct, photo-like (low-frequency) RGB image: phash-separable from its siblings."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8))
    return small.resize(size, Image.Resampling.BICUBIC)


def png_bomb_header(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming width×height, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def build_messy_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir()

    rgb = smooth_noise(0, (96, 80))
    rgb.save(root / "rgb.png")
    rgb.save(root / "dup_of_rgb.bmp")  # identical decoded pixels
    rgb.save(root / "near_of_rgb.jpg", quality=80)  # re-encoded: a near duplicate

    # Stored landscape, left half red / right half blue; EXIF orientation 6 means "turn
    # 90° clockwise to view", so upright it is red on top, blue below. Plus GPS.
    arr = np.zeros((80, 120, 3), np.uint8)
    arr[:, :60] = (220, 20, 20)
    arr[:, 60:] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 12.5)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    Image.fromarray(arr).save(root / "rotated_gps.jpg", exif=exif, quality=95)

    smooth_noise(1, (90, 90)).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    grey16 = (np.linspace(0, 65535, 100 * 100).reshape(100, 100)).astype(np.uint16)
    grey16[20:40, 20:80] = 1000
    Image.fromarray(grey16).save(root / "deep16.png")  # mode I;16

    rgba = smooth_noise(2, (80, 80)).convert("RGBA")
    a = np.array(rgba)
    a[:, :40, 3] = 0  # left half fully transparent
    Image.fromarray(a, "RGBA").save(root / "alpha.png")

    smooth_noise(3, (70, 70)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        root / "palette.gif"
    )
    frames = [smooth_noise(10 + i, (64, 64)) for i in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    smooth_noise(4, (72, 72)).save(root / "img.webp", quality=90)
    smooth_noise(5, (72, 96)).save(root / "img.tiff")
    smooth_noise(6, (88, 88)).save(root / "sub" / "nested.png")
    smooth_noise(7, (64, 80)).save(root / "ünïcode 顔.png")

    (root / "empty.jpg").write_bytes(b"")
    full = io.BytesIO()
    smooth_noise(8, (128, 128)).save(full, "JPEG", quality=95)
    (root / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (root / "text.png").write_text("this is not a picture\n")
    (root / "notes.txt").write_text("credits: see csv\n")
    (root / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    (root / "bomb.png").write_bytes(png_bomb_header(40000, 40000))
    smooth_noise(9, (10, 10)).save(root / "tiny.png")
    os.symlink("..", root / "sub" / "loop")  # sub/loop -> root: a cycle
    return root


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under root (links not followed): content hash / link target, mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(root))] = ("link:" + os.readlink(p), st.st_mtime_ns)
            elif p.is_file():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[str(p.relative_to(root))] = (digest, st.st_mtime_ns)
    return out
