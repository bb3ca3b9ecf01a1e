"""How well a membership inference attack works, from its scores on members and non-members.

:func:`attack_metrics` gives ROC AUC, the TPR at 1% and 0.1% FPR read off the ROC by linear
interpolation, and the membership advantage ``max(TPR - FPR)`` over all thresholds, each with
a bootstrap percentile interval from resampling members and non-members separately.

Example:
    >>> import numpy as np
    >>> m = attack_metrics(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75]), bootstrap=0)
    >>> round(m.auc, 4), round(m.advantage, 4)
    (0.8889, 0.6667)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from modelkeep.exceptions import InvalidInputError

__all__ = ["METRICS", "AttackMetrics", "FloatArray", "attack_metrics", "roc_points", "tpr_at_fpr"]

FloatArray = npt.NDArray[np.float64]

METRICS = ("auc", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr", "advantage")
"""The metric names every attack reports (and :attr:`AttackMetrics.ci` is keyed by)."""


@dataclass(frozen=True)
class AttackMetrics:
    """How well one attack separates members from non-members.

    Attributes:
        auc: ROC AUC (0.5 = guessing).
        tpr_at_1pct_fpr: true-positive rate at 1% false-positive rate.
        tpr_at_01pct_fpr: true-positive rate at 0.1% false-positive rate.
        advantage: ``max(TPR - FPR)`` over every threshold.
        ci: per metric, the bootstrap percentile interval ``(lo, hi)``.
        n_members: members scored.
        n_non_members: non-members scored.
        bootstrap: resamples behind ``ci`` (0: no interval, ``ci`` holds the point values).
    """

    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    advantage: float
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_members: int = 0
    n_non_members: int = 0
    bootstrap: int = 0

    def value(self, metric: str) -> float:
        """The value of one of :data:`METRICS`."""
        return float(getattr(self, metric))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (intervals as two-item lists)."""
        data: dict[str, Any] = {name: self.value(name) for name in METRICS}
        data["ci"] = {name: [lo, hi] for name, (lo, hi) in self.ci.items()}
        data.update(
            n_members=self.n_members, n_non_members=self.n_non_members, bootstrap=self.bootstrap
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackMetrics:
        """The inverse of :meth:`to_dict`."""
        ci = {str(k): (float(v[0]), float(v[1])) for k, v in dict(data.get("ci", {})).items()}
        auc, tpr_1, tpr_01, advantage = (float(data[name]) for name in METRICS)
        return cls(
            auc,
            tpr_1,
            tpr_01,
            advantage,
            ci=ci,
            n_members=int(data.get("n_members", 0)),
            n_non_members=int(data.get("n_non_members", 0)),
            bootstrap=int(data.get("bootstrap", 0)),
        )


def roc_points(members: FloatArray, non_members: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The ROC curve of ``score >= threshold`` for every distinct threshold, from ``(0, 0)``.

    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.

    Returns:
        ``(fpr, tpr)``, both non-decreasing and ending at 1.
    """
    scores = np.concatenate([members, non_members])
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_pos = np.cumsum(labels)[last_of_tie]
    false_pos = (last_of_tie + 1) - true_pos
    tpr = np.r_[0.0, true_pos / max(len(members), 1)]
    fpr = np.r_[0.0, false_pos / max(len(non_members), 1)]
    return fpr, tpr


def tpr_at_fpr(fpr: FloatArray, tpr: FloatArray, target: float) -> float:
    """The TPR at ``target`` FPR, linearly interpolated between the ROC points around it.

    Where the curve rises vertically at exactly ``target``, the highest TPR there is taken.
    """
    at_or_below = int(np.searchsorted(fpr, target, side="right")) - 1
    if fpr[at_or_below] >= target or at_or_below == len(fpr) - 1:
        return float(tpr[at_or_below])
    x0, x1 = fpr[at_or_below], fpr[at_or_below + 1]
    y0, y1 = tpr[at_or_below], tpr[at_or_below + 1]
    return float(y0 + (y1 - y0) * (target - x0) / (x1 - x0))


def _point_metrics(members: FloatArray, non_members: FloatArray) -> FloatArray:
    fpr, tpr = roc_points(members, non_members)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return np.array(
        [auc, tpr_at_fpr(fpr, tpr, 0.01), tpr_at_fpr(fpr, tpr, 0.001), float(np.max(tpr - fpr))]
    )


def attack_metrics(
    members: npt.ArrayLike,
    non_members: npt.ArrayLike,
    *,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> AttackMetrics:
    """Judge an attack by its scores on members and non-members (higher = member).

    Args:
        members: the attack's scores of rows that were in the training data.
        non_members: its scores of rows that were not.
        bootstrap: resamples for the intervals (members and non-members are resampled
            separately, keeping both sample sizes); 0 gives no interval.
        confidence: the intervals' coverage.
        seed: the resampling seed.

    Raises:
        InvalidInputError: either side is empty, a score is not finite, or ``confidence`` is
            not in (0, 1).
    """
    positive = np.asarray(members, dtype=np.float64).ravel()
    negative = np.asarray(non_members, dtype=np.float64).ravel()
    if len(positive) == 0 or len(negative) == 0:
        raise InvalidInputError("an attack needs members and non-members to score", field="data")
    if not (np.isfinite(positive).all() and np.isfinite(negative).all()):
        raise InvalidInputError("attack scores must be finite", field="scores")
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}", field="ci")
    point = _point_metrics(positive, negative)
    ci = {name: (float(value), float(value)) for name, value in zip(METRICS, point, strict=True)}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = np.empty((bootstrap, len(METRICS)))
        for index in range(bootstrap):
            draws[index] = _point_metrics(
                positive[rng.integers(0, len(positive), len(positive))],
                negative[rng.integers(0, len(negative), len(negative))],
            )
        tail = (1.0 - confidence) / 2.0 * 100.0
        low, high = np.percentile(draws, [tail, 100.0 - tail], axis=0)
        ci = {
            name: (float(lo), float(hi)) for name, lo, hi in zip(METRICS, low, high, strict=True)
        }
    auc, tpr_1, tpr_01, advantage = (float(value) for value in point)
    return AttackMetrics(
        auc, tpr_1, tpr_01, advantage, ci, len(positive), len(negative), max(bootstrap, 0)
    )
