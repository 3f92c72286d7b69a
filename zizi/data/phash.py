"""Perceptual and exact image hashes for de-duplication and opt-out matching.

`phash` is the classic DCT hash (Zauner 2010): greyscale at 32², 2-D DCT, the 8×8
lowest frequencies compared with their median. Re-encoding, resizing and mild colour
changes move it by a few bits; a different photo lands ~32 bits away.
`near_duplicate_groups` groups a dataset's images by it (`dataset inspect`, the card).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# Hamming distance (of 64 bits) at or below which two images count as near duplicates.
# 6 catches JPEG re-saves, resizes and small crops; unrelated faces sit far above 12.
NEAR_DUPLICATE_BITS = 6

# Near-duplicate grouping compares every pair; above this many images only identical
# perceptual hashes are grouped (n² popcounts would take minutes).
PAIRWISE_LIMIT = 20_000


def phash(im: Image.Image) -> int:
    """64-bit DCT perceptual hash of an image (any mode)."""
    import numpy as np
    from PIL import Image

    grey = im.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)  # [32, 32]
    freq = _dct_matrix(32) @ pixels @ _dct_matrix(32).T
    low = freq[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would skew the median
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def pixel_sha256(im: Image.Image) -> str:
    """sha256 of the decoded RGB pixels and size: same picture, any container."""
    rgb = im.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def nearest(query: int, hashes: np.ndarray) -> tuple[int, int]:
    """(index, distance) of the closest hash in a uint64 array; (-1, 65) when empty."""
    import numpy as np

    if len(hashes) == 0:
        return -1, 65
    x = np.bitwise_xor(hashes, np.uint64(query))
    dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
    i = int(dist.argmin())
    return i, int(dist[i])


def near_duplicate_groups(names: list[str], hashes: list[int], near_bits: int) -> list[list[str]]:
    """Groups (of `names`, each in input order) of images whose hashes lie within
    `near_bits` of another's, transitively; singletons are left out."""
    import numpy as np

    n = len(hashes)
    if n < 2:
        return []
    h = np.array(hashes, dtype=np.uint64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n <= PAIRWISE_LIMIT:
        for i in range(n - 1):
            x = np.bitwise_xor(h[i + 1 :], h[i])
            dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
            for j in np.nonzero(dist <= near_bits)[0]:
                parent[find(i + 1 + int(j))] = find(i)
    else:
        first: dict[int, int] = {}
        for i, v in enumerate(hashes):
            parent[i] = first.setdefault(v, i)
    members: dict[int, list[str]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(names[i])
    return [g for g in members.values() if len(g) > 1]


def _dct_matrix(n: int) -> np.ndarray:
    import numpy as np

    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m
