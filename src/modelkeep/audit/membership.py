"""Membership inference attacks: per-row scores, higher meaning "more likely a training member".

* the **loss attack** (Yeom et al. 2018): the audited model's confidence in the true label
  (for a regressor, minus the squared error);
* the **offline likelihood-ratio attack** (LiRA offline, Carlini et al. 2022): reference
  models trained without the rows give, per row, a Gaussian of the logit-scaled confidence
  ``phi = log(p / (1 - p))`` a non-member gets; the score is ``-log`` of the one-sided p-value
  of the audited model's ``phi`` under that Gaussian (higher = further above what
  non-members get = more member-like).

:class:`MembershipAttacks` runs both on a loaded model; the metrics that judge them live in
:mod:`modelkeep.audit.membership_metrics` (re-exported here).

Example:
    >>> import numpy as np
    >>> reference = np.array([[0.0, 1.0], [0.2, 1.2], [-0.2, 0.8]])
    >>> scores = lira_offline_scores(np.array([3.0, 1.0]), reference)
    >>> bool(scores[0] > scores[1])
    True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelkeep.audit.membership_metrics import (
    METRICS,
    AttackMetrics,
    FloatArray,
    attack_metrics,
    roc_points,
    tpr_at_fpr,
)
from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel

__all__ = [
    "METRICS",
    "AttackMetrics",
    "MembershipAttacks",
    "attack_metrics",
    "lira_offline_scores",
    "logit_confidence",
    "roc_points",
    "tpr_at_fpr",
    "true_label_confidence",
]

_REGRESSION_EPS = 1e-12

PROBABILITY_CLIP = 1e-6
"""Confidences are clipped to ``[c, 1 - c]`` before the logit, so a model that is certain
(``p = 1``) gives a large finite ``phi`` instead of infinity."""

SIGMA_FLOOR = 1e-3
"""The smallest standard deviation of a Gaussian fitted to reference ``phi`` values."""

PER_ROW_VARIANCE_FROM = 16
"""With fewer reference models than this, one global variance is used (Carlini et al. found
per-row variances unreliable with few models)."""


def true_label_confidence(proba: npt.ArrayLike, classes: npt.ArrayLike, labels: Any) -> FloatArray:
    """Per row, the probability the model gives the row's true label (0 for a label the model
    never saw).

    Args:
        proba: ``predict_proba`` output, one column per class.
        classes: the class of each column (``estimator.classes_``).
        labels: the true labels.
    """
    matrix = np.asarray(proba, dtype=np.float64)
    columns = pd.Index(np.asarray(classes)).get_indexer(pd.Index(np.asarray(labels)))
    rows = np.arange(len(columns))
    picked = matrix[rows, np.clip(columns, 0, None)]
    return np.where(columns >= 0, picked, 0.0)


def logit_confidence(confidence: npt.ArrayLike) -> FloatArray:
    """``phi = log(p / (1 - p))`` of confidences clipped to ``[c, 1 - c]`` (see
    :data:`PROBABILITY_CLIP`)."""
    p = np.clip(np.asarray(confidence, dtype=np.float64), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return np.log(p) - np.log1p(-p)


def lira_offline_scores(
    target_phi: npt.ArrayLike,
    reference_phi: npt.ArrayLike,
    *,
    per_row_variance: bool | None = None,
) -> FloatArray:
    """Offline LiRA scores: ``-log P_OUT(phi >= observed)`` per row.

    Args:
        target_phi: ``phi`` of each row under the audited model.
        reference_phi: ``phi`` of each row under each reference (OUT) model, shape
            ``(models, rows)``; no reference model saw any of the rows.
        per_row_variance: fit each row's own variance (True) or one global variance (False);
            None picks per-row from :data:`PER_ROW_VARIANCE_FROM` models on.

    Raises:
        InvalidInputError: fewer than 2 reference models, or the shapes disagree.
    """
    observed = np.asarray(target_phi, dtype=np.float64).ravel()
    reference = np.atleast_2d(np.asarray(reference_phi, dtype=np.float64))
    if reference.shape[0] < 2 or reference.shape[1] != len(observed):
        raise InvalidInputError(
            f"LiRA needs at least 2 reference models scoring the {len(observed)} rows, got "
            f"shape {reference.shape}",
            field="reference_models",
        )
    if per_row_variance is None:
        per_row_variance = reference.shape[0] >= PER_ROW_VARIANCE_FROM
    mean = reference.mean(axis=0)
    variance = reference.var(axis=0, ddof=1)
    if not per_row_variance:
        variance = np.full_like(variance, variance.mean())
    sigma = np.maximum(np.sqrt(variance), SIGMA_FLOOR)
    from scipy.special import log_ndtr

    # P(phi >= observed) under N(mean, sigma) is ndtr(-z); its log stays accurate far out.
    scores: FloatArray = -log_ndtr(-(observed - mean) / sigma)
    return scores


class MembershipAttacks:
    """The attacks on one loaded model.

    Args:
        loaded: the audited model.
        target: the label column of the data sets.
        rng: draws the split of the non-members and the reference models' halves.
    """

    def __init__(self, loaded: LoadedModel, target: str, rng: np.random.Generator) -> None:
        self.loaded, self.target, self.rng = loaded, target, rng
        raw = loaded.raw
        self.classes: Any = None
        if loaded.has_proba:
            self.task = "classification"
            self.classes = getattr(raw, "classes_", None)
            if self.classes is None:
                raise InvalidInputError(
                    f"the {loaded.flavor} model has no classes_, so its probability columns "
                    "cannot be matched to labels",
                    field="model_uri",
                )
        elif _is_sklearn_classifier(raw):
            raise InvalidInputError(
                "the membership audit of a classifier needs predict_proba", field="model_uri"
            )
        else:
            self.task = "regression"

    def rows(self, frame: pd.DataFrame, which: str) -> tuple[Any, np.ndarray[Any, Any]]:
        """Features (converted as the model expects) and labels of one data set."""
        if self.target not in frame.columns:
            raise InvalidInputError(
                f"target column {self.target!r} is not in the {which} data", field="target"
            )
        frame = frame[frame[self.target].notna()]
        labels = frame[self.target].to_numpy()
        features = frame.drop(columns=[self.target])
        signature = self.loaded.signature
        if signature is not None and signature.input_kind == "dataframe":
            names = [spec.name for spec in signature.inputs]
            features = features[[n for n in names if n in features.columns]]
        return self.loaded.validate_input(features), labels

    def confidence(self, model: Any, features: Any, labels: Any) -> FloatArray:
        """Loss-attack score: confidence in the true label, or minus the squared error.

        ``model`` is the audited model's flavor model or a fitted reference clone; both take
        the converted features.
        """
        if self.task == "classification":
            target = model is self.loaded.flavor_model
            classes = self.classes if target else model.classes_
            return true_label_confidence(model.predict_proba(features), classes, labels)
        predicted = np.asarray(model.predict(features), dtype=np.float64).ravel()
        return -((np.asarray(labels, dtype=np.float64) - predicted) ** 2)

    def phi(self, confidence: FloatArray) -> FloatArray:
        if self.task == "classification":
            return logit_confidence(confidence)
        return -np.log(-confidence + _REGRESSION_EPS)

    def run(
        self,
        member_frame: pd.DataFrame,
        outsider_frame: pd.DataFrame,
        reference_models: int,
        bootstrap: int,
        seed: int,
    ) -> tuple[dict[str, AttackMetrics], dict[str, int]]:
        x_in, y_in = self.rows(member_frame, "members")
        x_out, y_out = self.rows(outsider_frame, "non-members")
        minimum = 6 if reference_models else 2
        if len(y_in) < 2 or len(y_out) < minimum:
            raise InvalidInputError(
                f"the audit needs at least 2 members and {minimum} non-members with a label, "
                f"got {len(y_in)} and {len(y_out)}",
                field="non_members" if len(y_in) >= 2 else "members",
            )
        order = self.rng.permutation(len(y_out))
        evaluated = order if not reference_models else order[: len(order) - len(order) // 2]
        pool = order[len(evaluated) :]
        x_eval, y_eval = _take(x_out, evaluated), y_out[evaluated]
        audited = self.loaded.flavor_model
        conf_in = self.confidence(audited, x_in, y_in)
        conf_out = self.confidence(audited, x_eval, y_eval)
        attacks = {"loss": attack_metrics(conf_in, conf_out, bootstrap=bootstrap, seed=seed)}
        if reference_models:
            refs = self.references(_take(x_out, pool), y_out[pool], reference_models)
            scores_in = self._lira(refs, conf_in, x_in, y_in)
            scores_out = self._lira(refs, conf_out, x_eval, y_eval)
            attacks["lira_offline"] = attack_metrics(
                scores_in, scores_out, bootstrap=bootstrap, seed=seed
            )
        sizes = {
            "n_members": len(y_in),
            "n_non_members": len(y_eval),
            "n_reference_rows": len(pool),
            "reference_models": reference_models,
        }
        return attacks, sizes

    def _lira(self, refs: list[Any], confidence: FloatArray, x: Any, y: Any) -> FloatArray:
        reference = np.stack([self.phi(self.confidence(ref, x, y)) for ref in refs])
        return lira_offline_scores(self.phi(confidence), reference)

    def references(self, x_pool: Any, y_pool: np.ndarray[Any, Any], count: int) -> list[Any]:
        """``count`` clones of the model, each fitted on a random (stratified) half of the
        pool."""
        from sklearn.base import clone

        raw = self.loaded.raw
        try:
            clone(raw)
        except (TypeError, RuntimeError) as exc:
            raise InvalidInputError(
                f"LiRA trains reference copies with sklearn.base.clone, which cannot copy a "
                f"{type(raw).__name__} ({self.loaded.flavor} flavor): {exc}; pass "
                "reference_models=0 to run the loss attack only",
                field="reference_models",
            ) from None
        models = []
        for _ in range(count):
            half = self._half(y_pool)
            try:
                models.append(clone(raw).fit(_take(x_pool, half), y_pool[half]))
            except ValueError as exc:
                raise InvalidInputError(
                    f"a reference model could not be trained on {len(half)} non-member rows: "
                    f"{exc}",
                    field="non_members",
                ) from None
        return models

    def _half(self, labels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.task == "regression":
            return np.sort(self.rng.permutation(len(labels))[: max(len(labels) // 2, 1)])
        picked = []
        for value in pd.unique(labels):
            rows = self.rng.permutation(np.flatnonzero(labels == value))
            picked.append(rows[: math.ceil(len(rows) / 2)])
        return np.sort(np.concatenate(picked))


def _is_sklearn_classifier(model: Any) -> bool:
    from sklearn.base import BaseEstimator, is_classifier

    return isinstance(model, BaseEstimator) and bool(is_classifier(model))


def _take(features: Any, rows: np.ndarray[Any, Any]) -> Any:
    if isinstance(features, pd.DataFrame):
        return features.iloc[rows]
    return np.asarray(features)[rows]
