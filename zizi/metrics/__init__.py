"""Measuring a generator and how far fine-tuning moved it: FID, KID, SWD, weight shift.

One concept per module: `frechet` (FID), `kid` (KID), `swd` (sliced Wasserstein on
Laplacian pyramids), `features` (feature statistics, the real-image cache), `inception`
(loading the Inception file a person supplies), `shift` (weight shift over a run's
frames and sample distances), `charts` (PNG charts), `measure` (`compute`, what the
trainer and `zizi metrics` call). Importing this package imports no torch.
"""

from __future__ import annotations

from typing import Any


def compute(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`zizi.metrics.measure.compute`: metrics of a generator against a dataset."""
    from zizi.metrics.measure import compute as _compute

    return _compute(*args, **kwargs)
