"""Tree-ensemble reductions: fewer trees, a limited-depth refit, distillation.

For a scikit-learn forest (random forest, extra trees), gradient boosting or histogram
gradient boosting model, alone or as the last step of a Pipeline (whose fitted preprocessing
every reduction keeps as it is):

* ``trees_<k>`` (family ``fewer_trees``): the first ``k`` fitted trees (boosting stages) for
  ``k`` = n/2, n/4 and n/10 of the ``n`` there are. No refit: a forest's trees are independent
  and boosting stages are additive, so the first ``k`` are a complete smaller model.
* ``depth_<d>`` (family ``limited_depth``): the same estimator refitted on the training rows
  with ``max_depth`` = ``d`` for each ``d`` of 2, 4 and 8 below the fitted trees' depth.
* ``distilled_<k>`` (family ``distilled``): an ensemble of the same kind with ``k`` = n/10
  trees (at least 2) fitted on the training rows labelled by the original model's predictions
  (its labels, or its values for a regressor), so it learns the model rather than the data.
  A boosting student's learning rate grows by n/k (at most 1) to make up for fewer stages.

The refits need training rows (:class:`~modelkeep.compress.variants.FitRows`); without them
they are skipped with that reason.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelkeep.compress.variants import FitRows

__all__ = ["DEPTHS", "final_estimator", "is_tree_ensemble", "reductions", "tree_count"]

DEPTHS = (2, 4, 8)
_FRACTIONS = (2, 4, 10)
_DISTIL_FRACTION = 10
Reduction = tuple[str, str, Any, str]  # family, name, model, description


def final_estimator(model: Any) -> Any:
    """The estimator itself, or a Pipeline's last step."""
    from sklearn.pipeline import Pipeline

    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def _kind(estimator: Any) -> str | None:
    from sklearn.ensemble import BaseEnsemble
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )

    if isinstance(estimator, BaseForest) and isinstance(estimator, BaseEnsemble):
        return "forest"
    if isinstance(estimator, BaseGradientBoosting):
        return "boosting"
    if isinstance(estimator, BaseHistGradientBoosting):
        return "hist"
    return None


def is_tree_ensemble(model: Any) -> bool:
    """Whether ``model`` (or its Pipeline's last step) is a fitted tree ensemble we reduce."""
    estimator = final_estimator(model)
    return _kind(estimator) is not None and tree_count(estimator) > 0


def tree_count(estimator: Any) -> int:
    """Fitted trees of a forest, stages of a boosting model (0 when not fitted)."""
    kind = _kind(estimator)
    if kind is None:
        return 0
    # A boosting model's estimators_ is an (n_stages, n_trees_per_stage) array.
    return len(getattr(estimator, "_predictors" if kind == "hist" else "estimators_", ()))


def reductions(
    model: Any, families: frozenset[str], fit: FitRows | None, skipped: dict[str, str], seed: int
) -> Iterator[Reduction]:
    """The reduced models of ``families`` for ``model``; reasons for the rest in ``skipped``."""
    wanted = families & {"fewer_trees", "limited_depth", "distilled"}
    if not wanted:
        return
    if not is_tree_ensemble(model):
        kind = type(final_estimator(model)).__name__
        for family in sorted(wanted):
            skipped[family] = f"{kind} is not a tree ensemble"
        return
    if "fewer_trees" in wanted:
        yield from _fewer_trees(model)
    refits = sorted(wanted - {"fewer_trees"})
    if refits and fit is None:
        for family in refits:
            skipped[family] = "no training rows to refit on (pass train_data=, or more data)"
        return
    if "limited_depth" in wanted and fit is not None:
        yield from _limited_depth(model, fit, skipped, seed)
    if "distilled" in wanted and fit is not None:
        yield from _distilled(model, fit, skipped, seed)


def _with_final(model: Any, estimator: Any) -> Any:
    """``model`` with its last step replaced (the fitted preprocessing shared, not refitted)."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return estimator
    steps = [*model.steps[:-1], (model.steps[-1][0], estimator)]
    return Pipeline(steps, memory=model.memory, verbose=model.verbose)


def _features(model: Any, X: Any) -> Any:
    """What the last step sees: ``X`` through the Pipeline's fitted preprocessing."""
    from sklearn.pipeline import Pipeline

    return model[:-1].transform(X) if isinstance(model, Pipeline) else X


def _fewer_trees(model: Any) -> Iterator[Reduction]:
    estimator = final_estimator(model)
    total = tree_count(estimator)
    counts = sorted({max(1, total // share) for share in _FRACTIONS} - {total}, reverse=True)
    kind = _kind(estimator)
    for count in counts:
        smaller = copy.copy(estimator)  # shares the fitted trees; only the lists are new
        if kind == "hist":
            smaller._predictors = estimator._predictors[:count]
            smaller.max_iter = count
        else:
            smaller.estimators_ = estimator.estimators_[:count]
            smaller.n_estimators = count
            if kind == "boosting":
                smaller.n_estimators_ = count
        what = "stages" if kind != "forest" else "trees"
        yield (
            "fewer_trees",
            f"trees_{count}",
            _with_final(model, smaller),
            f"the first {count} of {total} fitted {what}",
        )


def _max_depth(estimator: Any) -> float:
    if _kind(estimator) == "hist":
        depth = estimator.get_params().get("max_depth")
        return float("inf") if depth is None else float(depth)
    trees = getattr(estimator, "estimators_", [])
    flat = list(trees.ravel()) if hasattr(trees, "ravel") else list(trees)
    return float(max((tree.tree_.max_depth for tree in flat), default=0))


def _limited_depth(
    model: Any, fit: FitRows, skipped: dict[str, str], seed: int
) -> Iterator[Reduction]:
    from sklearn.base import clone

    estimator = final_estimator(model)
    depth = _max_depth(estimator)
    depths = [d for d in DEPTHS if d < depth]
    if not depths:
        skipped["limited_depth"] = f"the fitted trees are {depth:g} deep already"
        return
    features = _features(model, fit.X)
    for limit in depths:
        refit = clone(estimator).set_params(max_depth=limit, **_seed(estimator, seed))
        refit.fit(features, fit.y)
        yield (
            "limited_depth",
            f"depth_{limit}",
            _with_final(model, refit),
            f"refitted on the training rows with max_depth={limit} (fitted: {depth:g})",
        )


def _distilled(
    model: Any, fit: FitRows, skipped: dict[str, str], seed: int
) -> Iterator[Reduction]:
    from sklearn.base import clone

    estimator = final_estimator(model)
    total = tree_count(estimator)
    count = max(2, total // _DISTIL_FRACTION)
    if count >= total:
        skipped["distilled"] = f"{total} trees are too few to distil into fewer"
        return
    kind = _kind(estimator)
    params: dict[str, Any] = {"max_iter" if kind == "hist" else "n_estimators": count}
    if kind != "forest":
        rate = float(estimator.get_params()["learning_rate"])
        params["learning_rate"] = min(1.0, rate * total / count)
    teacher = model.predict(fit.X)
    student = clone(estimator).set_params(**params, **_seed(estimator, seed))
    if kind == "hist":
        student.set_params(early_stopping=False)
    student.fit(_features(model, fit.X), teacher)
    yield (
        "distilled",
        f"distilled_{count}",
        _with_final(model, student),
        f"{count} {'trees' if kind == 'forest' else 'stages'} fitted to the original's "
        "predictions on the training rows",
    )


def _seed(estimator: Any, seed: int) -> dict[str, Any]:
    """Keep the original's random state; give an unseeded one ``seed`` (repeatable refits)."""
    state = estimator.get_params().get("random_state")
    return {"random_state": seed} if state is None else {}
