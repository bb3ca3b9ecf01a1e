"""Training plots as PNG bytes: confusion matrix, ROC curve, residuals, feature importance.

With ``modelkeep.explain.plots``, the only modules that import matplotlib. Figures are built with
``matplotlib.figure.Figure`` and drawn by the Agg canvas, never through ``pyplot``: no global
figure state, no GUI backend, safe in servers and worker processes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "confusion_matrix_png",
    "feature_importance_png",
    "residuals_png",
    "roc_curve_png",
]

_DPI = 100


def _figure(width: float = 6.0, height: float = 4.5) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="tight")


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def confusion_matrix_png(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> bytes:
    """Counts of true (rows) against predicted (columns) classes, numbers in the cells."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(labels))
    size = max(4.0, 0.6 * len(labels) + 2.5)
    fig = _figure(size, size * 0.85)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, [str(label) for label in labels], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(label) for label in labels])
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test set)")
    return _png(fig)


def roc_curve_png(y_true: Any, proba: Any, classes: Sequence[Any]) -> bytes:
    """ROC curve: the positive class for two classes, one-vs-rest per class otherwise."""
    from sklearn.metrics import auc, roc_curve

    y = np.asarray(y_true)
    fig = _figure()
    ax = fig.add_subplot()
    shown = [classes[1]] if len(classes) == 2 else list(classes)
    for label in shown:
        column = list(classes).index(label)
        positive = y == label
        if positive.all() or not positive.any():
            continue  # no curve for a class the test set lacks (or holds alone)
        fpr, tpr, _ = roc_curve(positive, proba[:, column])
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test set)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    return _png(fig)


def residuals_png(y_true: Any, y_pred: Any) -> bytes:
    """Residuals (true - predicted) against the prediction, with the zero line."""
    pred = np.asarray(y_pred, dtype=float)
    residuals = np.asarray(y_true, dtype=float) - pred
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(pred, residuals, s=12, alpha=0.6)
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title("Residuals (test set)")
    return _png(fig)


def feature_importance_png(names: Sequence[str], importances: Any, top: int = 20) -> bytes:
    """Horizontal bars of the ``top`` largest importances, largest on top."""
    values = np.asarray(importances, dtype=float)
    order = np.argsort(-values, kind="stable")[:top][::-1]
    fig = _figure(7.0, max(3.0, 0.3 * len(order) + 1.5))
    ax = fig.add_subplot()
    ax.barh([str(names[i]) for i in order], values[order])
    ax.set_xlabel("importance")
    ax.set_title(f"Feature importance (top {len(order)})")
    return _png(fig)
