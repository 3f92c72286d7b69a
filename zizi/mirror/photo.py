"""The photo in memory: decoded like a dataset image, framed like `zizi dataset prepare`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zizi.errors import ZiziError

if TYPE_CHECKING:
    import torch
    from PIL import Image

AlignChoice = Literal["face", "center"]


class PhotoError(ZiziError):
    """The photo cannot be read or framed."""


def load_photo(path: str | Path) -> Image.Image:
    """Decode `path` to an upright sRGB RGB image, held in memory only."""
    from zizi.data.images import SkipImage, decode

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PhotoError(f"{p} not found") from None
    except IsADirectoryError:
        raise PhotoError(f"{p} is a folder; give one photo") from None
    except OSError as e:
        raise PhotoError(f"cannot read {p}: {e.strerror or e}") from None
    try:
        return decode(data, suffix=p.suffix).image
    except SkipImage as e:
        raise PhotoError(f"{p} is not a usable image: {e.reason}") from None


def frame(im: Image.Image, resolution: int, align: AlignChoice = "face") -> Image.Image:
    """The `resolution`² crop the model sees: FFHQ face alignment (the largest face, exactly
    as `zizi dataset prepare --align face` frames it) or the centred square."""
    from zizi.data import crops

    if align == "center":
        return crops.center_crop(im, resolution)
    if align != "face":
        raise PhotoError(f"--align must be face or center, got {align!r}")
    from zizi.data.align import FaceFinder, ffhq_quad
    from zizi.data.align import align as align_quad

    faces = FaceFinder(landmarks="5").find(im)
    if not faces:
        raise PhotoError(
            "no face found in the photo; use a photo with one clear, frontal face, "
            "or --align center for a model that does not draw faces"
        )
    return align_quad(im, ffhq_quad(faces[0]), resolution)


def to_tensor(im: Image.Image) -> torch.Tensor:
    """A framed RGB image as the generator draws it: [1, 3, H, W] in [-1, 1]."""
    import numpy as np
    import torch

    arr = np.asarray(im, dtype=np.float32)  # [H, W, 3]
    return torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1  # [1, 3, H, W]
