"""A phone photo stored sideways with an EXIF orientation tag trains upright from a plain folder."""

import numpy as np
from PIL import Image

from zizi.data.dataset import ImageDataset


def _upright(res: int = 16) -> np.ndarray:
    arr = np.zeros((res, res, 3), np.uint8)
    arr[: res // 2, :, 0] = 255  # top half red
    arr[res // 2 :, :, 2] = 255  # bottom half blue
    return arr


def test_rotated_exif_jpeg_in_plain_folder_is_upright(tmp_path):
    upright = _upright()
    for tag, stored in (
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
        (3, Image.Transpose.ROTATE_180),
    ):
        folder = tmp_path / f"o{tag}"
        folder.mkdir()
        exif = Image.Exif()
        exif[0x0112] = tag  # the viewer turns the stored pixels back upright
        Image.fromarray(upright).transpose(stored).save(
            folder / "photo.jpg", exif=exif, quality=100
        )
        raw = np.asarray(Image.open(folder / "photo.jpg"))
        assert np.abs(raw.astype(int) - upright).mean() > 50  # stored sideways: the test can fail

        img, _ = ImageDataset(folder)[0]  # [3, H, W] in [-1, 1]
        got = ((img.numpy() + 1) * 127.5).transpose(1, 2, 0)
        assert np.abs(got - upright).mean() < 8, f"orientation {tag} not applied"
