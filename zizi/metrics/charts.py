"""PNG line charts for runs (weight shift, sample distances), written atomically.

Uses matplotlib's object API with the Agg canvas directly, so drawing a chart never
switches a process-wide backend or needs a display.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

from zizi.files import write_bytes

Series = dict[str, tuple[Sequence[float], Sequence[float]]]
NOTE_CHARS = 150  # characters per line of a chart's note at 7 pt across the figure


def line_chart(
    path: str | os.PathLike,
    series: Series,
    title: str,
    xlabel: str,
    ylabel: str,
    note: str | None = None,
) -> Path:
    """One panel, one line per series name: {name: (xs, ys)}; a dot on every point."""
    return line_panels(path, [(title, ylabel, series)], xlabel, note)


def line_panels(
    path: str | os.PathLike,
    panels: list[tuple[str, str, Series]],
    xlabel: str,
    note: str | None = None,
) -> Path:
    """Panels side by side, each (title, ylabel, series), sharing the x axis label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8 if len(panels) == 1 else 12, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    for i, (title, ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for name, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.5, label=name)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8, ncol=2 if len(series) > 6 else 1, loc="best")
    lines = textwrap.wrap(note, NOTE_CHARS) if note else []  # a long note must not run off the edge
    if lines:
        fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03 * len(lines), 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_bytes(path, buf.getvalue())
