"""`decode`: modes, ICC profiles and failure reasons, one file at a time."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.data.messy import smooth_noise
from zizi.data.images import SkipImage, decode, strip_to_png_bytes


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_embedded_icc_profile_is_converted_and_not_kept():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = smooth_noise(0, (40, 40))
    d = decode(encode(im, icc_profile=srgb))
    assert d.icc_converted and d.image.mode == "RGB"
    # sRGB -> sRGB through lcms: the pixels barely move.
    assert np.abs(np.asarray(d.image, int) - np.asarray(im, int)).max() <= 2
    png = strip_to_png_bytes(d.image)
    assert b"iCCP" not in png and "icc_profile" not in Image.open(io.BytesIO(png)).info
    # A profile for another colour space than the pixels is ignored, not misapplied.
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    assert not decode(encode(im, icc_profile=lab)).icc_converted


@pytest.mark.parametrize(
    "mode, transparent",
    [("LA", True), ("P", True), ("1", False), ("L", False), ("RGBA", False)],
)
def test_modes_become_rgb(mode: str, transparent: bool):
    base = smooth_noise(3, (32, 32))
    if mode == "LA":
        im = base.convert("LA")
        a = np.array(im)
        a[:, :16, 1] = 0
        im = Image.fromarray(a, "LA")
    elif mode == "P":
        im = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        im.info["transparency"] = 0
    else:
        im = base.convert(mode)
    d = decode(encode(im), background=(0, 255, 0))
    assert d.image.mode == "RGB" and d.image.size == (32, 32)
    assert d.had_alpha == transparent
    if mode == "LA":
        assert (np.asarray(d.image)[:, :16] == (0, 255, 0)).all()


def test_reasons():
    with pytest.raises(SkipImage, match="empty"):
        decode(b"")
    with pytest.raises(SkipImage, match="not an image"):
        decode(b"hello world, not a picture")
    jpeg = encode(smooth_noise(1, (64, 64)), "JPEG")
    with pytest.raises(SkipImage, match="truncated"):
        decode(jpeg[: len(jpeg) // 2])
    with pytest.raises(SkipImage, match="decompression bomb"):
        decode(jpeg, max_pixels=64 * 64 - 1)
