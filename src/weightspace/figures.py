"""The figure helper every part of the package draws with (the report, the sparsification
study, the graph experiments): figures built as ``matplotlib.figure.Figure`` objects, no
pyplot and no display, rendered to PNG bytes."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


def png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


__all__ = ["Figure", "png"]
