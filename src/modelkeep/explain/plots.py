"""The global-importance plot as PNG bytes (matplotlib's Agg canvas, never ``pyplot``).

Built like :mod:`modelkeep.train.plots`: a ``matplotlib.figure.Figure`` drawn by the Agg canvas,
so there is no global figure state and no GUI backend (safe in servers and workers).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["importance_png"]

_DPI = 100


def importance_png(
    features: Sequence[str],
    means: Any,
    stds: Any,
    mean_abs_shap: Any = None,
    *,
    metric: str = "score",
    top: int = 20,
) -> bytes:
    """Horizontal bars of permutation importance (mean drop of ``metric``, error bars one
    standard deviation over the repeats), largest on top; beside them mean |SHAP| when given.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(means, dtype=float)
    spread = np.asarray(stds, dtype=float)
    order = np.argsort(-values, kind="stable")[:top][::-1]
    names = [str(features[i]) for i in order]
    shap_values = None if mean_abs_shap is None else np.asarray(mean_abs_shap, dtype=float)
    panels = 1 if shap_values is None or not np.isfinite(shap_values).any() else 2
    height = max(3.0, 0.3 * len(order) + 1.5)
    figure = Figure(figsize=(6.5 * panels, height), dpi=_DPI, layout="tight")
    FigureCanvasAgg(figure)
    left = figure.add_subplot(1, panels, 1)
    left.barh(names, values[order], xerr=spread[order], capsize=3, color="#4c72b0")
    left.axvline(0.0, color="grey", linewidth=1)
    left.set_xlabel(f"drop in {metric} when the column is shuffled")
    left.set_title(f"Permutation importance (top {len(order)})")
    if panels == 2 and shap_values is not None:
        right = figure.add_subplot(1, panels, 2)
        right.barh(names, np.nan_to_num(shap_values[order]), color="#dd8452")
        right.set_xlabel("mean |SHAP value|")
        right.set_title("Mean absolute attribution")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
