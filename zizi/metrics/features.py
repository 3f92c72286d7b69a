"""Images in, feature statistics out: reals from a dataset, fakes from a generator.

Images travel as uint8 [N, 3, H, W] tensors, the form the reference tools feed their
detector: dataset pixels as stored, generated images as (x·127.5 + 128) clamped and
truncated, as stylegan2-ada does. Real-image Inception statistics are cached in
`<zizi cache>/metrics/` under a hash of the dataset's names and bytes, the detector
weights and the number of images, so a second run (or every snapshot of a training run)
reads them instead of recomputing; the cache file is written atomically
(`zizi.files.write_bytes`) as an .npz of arrays only.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zizi.metrics.frechet import FeatureStats

if TYPE_CHECKING:
    from zizi.data.dataset import ImageDataset

Progress = Callable[[int, int], None]  # (done, total)
CACHE_VERSION = 1


def dataset_images(
    dataset: ImageDataset, max_items: int | None = None, batch: int = 32
) -> Iterator[torch.Tensor]:
    """The dataset's images in order, as uint8 [B, 3, H, W] batches (labels dropped)."""
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    for start in range(0, n, batch):
        imgs = [dataset[i][0] for i in range(start, min(n, start + batch))]
        # the dataset stores uint8 / 127.5 - 1; this restores the stored pixels exactly
        yield ((torch.stack(imgs) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def generated_images(
    G: Any,
    num: int,
    seed: int = 0,
    batch: int = 16,
    device: Any = "cpu",
    c_dim_labels: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """`num` images of generator G from seeded z (and random one-hot classes if conditional)."""
    device = torch.device(device)
    gen_cpu = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
    for start in range(0, num, batch):
        b = min(batch, num - start)
        z = torch.randn(b, G.z_dim, generator=gen_cpu).to(device)
        c = None
        if G.c_dim > 0:
            c = torch.zeros(b, G.c_dim, device=device)
            c[torch.arange(b), torch.randint(0, G.c_dim, (b,), generator=gen_cpu)] = 1
        with torch.no_grad():
            img = G(z, c, noise_mode="random", generator=noise_gen)
        yield (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu()


def feature_stats(
    batches: Iterator[torch.Tensor],
    detector: Callable[[torch.Tensor], torch.Tensor],
    total: int,
    keep_all: bool = True,
    progress: Progress | None = None,
) -> FeatureStats:
    """Run every batch through `detector` and accumulate float64 statistics."""
    stats = FeatureStats(keep_all=keep_all)
    for images in batches:
        stats.append(detector(images).numpy())
        if progress is not None:
            progress(stats.num, total)
    return stats


def dataset_hash(dataset: ImageDataset) -> str:
    """SHA-256 over the dataset's image names and bytes (a zip: over the whole file)."""
    h = hashlib.sha256()
    path = Path(dataset.path)
    if path.is_file():
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        for i in range(len(dataset)):
            name = dataset.name(i)
            h.update(name.encode("utf-8") + b"\0")
            h.update(hashlib.sha256((path / name).read_bytes()).digest())
    return h.hexdigest()


class CachedStats:
    """Real-image statistics as cached: mean, covariance (float64) and all features."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, features: np.ndarray) -> None:
        self.mean, self.cov, self.features = mean, cov, features

    @property
    def num(self) -> int:
        return int(self.features.shape[0])


def real_stats(
    dataset: ImageDataset,
    detector: Any,
    max_items: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> CachedStats:
    """Inception statistics of the dataset's images, from the cache when it has them."""
    from zizi.files import write_bytes
    from zizi.metrics.inception import cache_root

    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    cache_dir = cache_root() / "metrics" if cache_dir is None else cache_dir
    key = hashlib.sha256(f"{CACHE_VERSION}|{dataset_hash(dataset)}|{detector.tag}|{n}".encode())
    cache_file = cache_dir / f"{Path(dataset.path).name}-{detector.tag}-{key.hexdigest()[:16]}.npz"
    if cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                return CachedStats(z["mean"], z["cov"], z["features"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed and replaced
    stats = feature_stats(dataset_images(dataset, n), detector, n, keep_all=True, progress=progress)
    mean, cov = stats.mean_cov()
    out = CachedStats(mean, cov, stats.all())
    buf = io.BytesIO()
    np.savez(buf, mean=out.mean, cov=out.cov, features=out.features)
    write_bytes(cache_file, buf.getvalue())
    return out
