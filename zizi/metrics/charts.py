"""PNG line charts for runs (weight shift, sample distances), written atomically.

Uses matplotlib's object API with the Agg canvas directly, so drawing a chart never
switches a process-wide backend or needs a display.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from zizi.files import write_bytes


def line_chart(path: str | os.PathLike, series: dict[str, tuple[Sequence[float], Sequence[float]]],
               title: str, xlabel: str, ylabel: str, note: str | None = None,
               logy: bool = False) -> Path:
    """One line per series name: {name: (xs, ys)}; a dot on every point."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.5, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, ncol=2 if len(series) > 6 else 1, loc="best")
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_bytes(path, buf.getvalue())
