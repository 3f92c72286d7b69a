"""Time in a render: frame counts from durations, easing, and positions along a path.

A render of N frames visits positions u in [0, 1]. Without a loop frame i sits at
u = i / (N - 1), so the first and last frames land exactly on the ends. With a loop the
path goes there and back: frame i has phase i / N and u rises to 1 at the middle and
falls back, so the frame after the last would be frame 0 again.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from zizi.errors import ConfigError

Easing = Literal["linear", "smooth"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|f|frames?)?\s*$")


def parse_duration(text: str, fps: float) -> int:
    """'90s', '135m', '2h' or '900' / '900f' (frames) -> a frame count (>= 1)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(
            f"bad duration {text!r}; use seconds (90s), minutes (135m), hours (2h) "
            "or a frame count (900)"
        )
    value, unit = float(m.group(1)), (m.group(2) or "f")
    seconds = {"s": 1, "m": 60, "h": 3600}.get(unit)
    frames = value if seconds is None else value * seconds * fps
    if seconds is None and value != int(value):
        raise ConfigError(f"a frame count must be whole, not {text!r}")
    n = int(round(frames))
    if n < 1:
        raise ConfigError(
            f"duration {text!r} is zero frames at {fps:g} fps; give a positive duration"
        )
    return n


def ease(t: float, easing: Easing) -> float:
    """Map t in [0, 1] through the easing; ends are kept exactly."""
    if easing == "linear":
        return t
    if easing == "smooth":  # cosine ease in/out: zero velocity at both ends
        if t <= 0.0 or t >= 1.0:
            return min(max(t, 0.0), 1.0)
        return 0.5 - 0.5 * math.cos(math.pi * t)
    raise ConfigError(f"unknown easing {easing!r}; use linear or smooth")


def phase(i: int, n: int, loop: bool) -> float:
    """Frame i of n -> phase in [0, 1]: i/(n-1) for an open path, i/n for a loop."""
    if loop:
        return i / n
    return 0.0 if n == 1 else i / (n - 1)


def there_and_back(i: int, n: int, loop: bool) -> float:
    """Position u in [0, 1] for frame i: straight through, or out and back for a loop."""
    p = phase(i, n, loop)
    return 1.0 - abs(1.0 - 2.0 * p) if loop else p


def locate(u: float, knots: list[float]) -> tuple[int, float]:
    """(segment j, local t) with knots[j] <= u <= knots[j+1]; ends land exactly on knots."""
    if len(knots) == 1:
        return 0, 0.0
    if u <= knots[0]:
        return 0, 0.0
    if u >= knots[-1]:
        return len(knots) - 2, 1.0
    for j in range(len(knots) - 1):
        a, b = knots[j], knots[j + 1]
        if u <= b:
            return j, (u - a) / (b - a) if b > a else 1.0
    return len(knots) - 2, 1.0  # pragma: no cover - u <= knots[-1] above
