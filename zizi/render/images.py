"""Image conversion: generator output to uint8 pixels, and grids.

PNGs are written by `zizi.files.write_png`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] float in about [-1, 1] -> [N, H, W, C] uint8 (the reference rounding)."""
    import torch

    x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class HostImages:
    """uint8 images on their way to the host, copied without blocking the producer.

    On a GPU a plain `.cpu()` waits for the generator to finish the batch, so the device
    idles while the frame is handed over. Here the conversion is queued on the device and
    copied into pinned host memory asynchronously; whoever needs the pixels (the render's
    writer thread) waits on the copy's event. On the CPU it is `to_uint8` without the wait.
    """

    def __init__(self, img: torch.Tensor) -> None:  # [N, C, H, W] float in about [-1, 1]
        import torch

        x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        x = x.permute(0, 2, 3, 1)  # [N, H, W, C]
        self._event = None
        if x.is_cuda:
            self._host = torch.empty(x.shape, dtype=torch.uint8, pin_memory=True)
            self._host.copy_(x, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host = x.contiguous()

    def numpy(self) -> np.ndarray:
        """[N, H, W, C] uint8, once the copy has landed."""
        if self._event is not None:
            self._event.synchronize()
        return self._host.numpy()


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile [N, H, W, C] uint8 images into one near-square grid image [H', W', C]."""
    import numpy as np

    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[i]
    return grid


GRID_MAX_SIDE = 8192  # px: a grid of 100k seeds stays a ~200 MB array, not 100k full images


class ThumbnailGrid:
    """A near-square grid filled image by image, keeping only thumbnails (bounded memory).

    Tiles keep the images' own size while the grid fits in `max_side` pixels; beyond that
    each image is shrunk (area averaging) so that a run of 100k seeds holds one grid-sized
    array, never every image.
    """

    def __init__(
        self, count: int, height: int, width: int, channels: int, max_side: int = GRID_MAX_SIDE
    ) -> None:
        import numpy as np

        self.cols = math.ceil(math.sqrt(count))
        self.rows = math.ceil(count / self.cols)
        scale = min(1.0, max_side / (self.cols * width), max_side / (self.rows * height))
        self.th, self.tw = max(1, int(height * scale)), max(1, int(width * scale))
        self.grid = np.zeros((self.rows * self.th, self.cols * self.tw, channels), dtype=np.uint8)
        self.count = 0

    def add(self, images: np.ndarray) -> None:
        """Place [N, H, W, C] uint8 images in the next free tiles."""
        import numpy as np
        from PIL import Image

        for img in images:
            if img.shape[:2] != (self.th, self.tw):
                pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
                img = np.asarray(pil.resize((self.tw, self.th), Image.BOX)).reshape(
                    self.th, self.tw, -1
                )
            r, c = divmod(self.count, self.cols)
            self.grid[r * self.th : (r + 1) * self.th, c * self.tw : (c + 1) * self.tw] = img
            self.count += 1
