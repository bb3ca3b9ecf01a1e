"""``importance(model_uri, data, target)``: global importance of each input column.

Two measures, both on the original input columns:

- **Permutation importance**: the model's score on the validation rows (``metric``: accuracy
  for classifiers, r2 for regressors by default; any metric of
  :mod:`modelkeep.train.metrics`), minus its score after shuffling one column, repeated
  ``n_repeats`` times with different shuffles; reported as the mean and standard deviation
  of the drop (positive: the column matters; about 0: it does not). Works through the loaded
  model's own ``predict``/``predict_proba``, so every model type is covered and a pipeline's
  preprocessing sees whole original columns.
- **Mean |SHAP|**: the mean absolute attribution of each column over (a sample of) the rows,
  from :func:`modelkeep.explain.explain_model` (TreeSHAP or the linear closed form where they
  apply; KernelSHAP on at most ``kernel_rows`` rows otherwise), in that method's output space,
  with the validation rows as background; for classifiers, of the class each row's
  explanation is about (the positive class, or a multiclass model's predicted class).

:func:`importance` stores the result with the model's run (the version's source run) as
``explain/importance.json`` and a bar plot ``explain/importance.png``, where the model card
picks them up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.explain.explanation import Explanation, json_value
from modelkeep.explain.local import explain_model
from modelkeep.explain.model_parts import split_model
from modelkeep.registry.loaded import LoadedModel

__all__ = [
    "IMPORTANCE_JSON",
    "IMPORTANCE_PNG",
    "ImportanceResult",
    "compute_importance",
    "importance",
    "store_importance",
]

IMPORTANCE_JSON = "explain/importance.json"
IMPORTANCE_PNG = "explain/importance.png"
MAX_ROWS = 10_000


@dataclass(frozen=True)
class ImportanceResult:
    """Global importance of each input column (see the module docstring).

    Attributes:
        table: one row per column, most important first: ``feature``, ``importance_mean``,
            ``importance_std`` (permutation; drop of ``metric``) and ``mean_abs_shap`` (NaN
            when SHAP was not computed).
        repeats: per column, the drop of each repeat.
        metric: the score permuted; ``greater_is_better`` its direction (the drop is always
            signed so that positive means the column matters).
        baseline_score: the score on the unshuffled rows.
        n_repeats, rows, seed: how it was computed.
        shap: how mean |SHAP| was computed (``method``, ``output_space``, ``rows``,
            ``additivity_error``), or ``{"skipped": reason}``.
        model_uri, version, run_id: the model, and the run the result is stored with.
    """

    table: pd.DataFrame
    repeats: dict[str, list[float]]
    metric: str
    greater_is_better: bool
    baseline_score: float
    n_repeats: int
    rows: int
    seed: int
    shap: dict[str, Any] = field(default_factory=dict)
    model_uri: str = ""
    version: str | None = None
    run_id: str | None = None

    @property
    def ranking(self) -> list[str]:
        """The columns, most important (permutation) first."""
        return [str(name) for name in self.table["feature"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        features = [
            {
                "feature": str(row["feature"]),
                "importance_mean": json_value(float(row["importance_mean"])),
                "importance_std": json_value(float(row["importance_std"])),
                "mean_abs_shap": json_value(float(row["mean_abs_shap"])),
                "repeats": [json_value(v) for v in self.repeats[str(row["feature"])]],
            }
            for row in self.table.to_dict("records")
        ]
        return {
            "model_uri": self.model_uri,
            "version": self.version,
            "run_id": self.run_id,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "baseline_score": json_value(self.baseline_score),
            "n_repeats": self.n_repeats,
            "rows": self.rows,
            "seed": self.seed,
            "ranking": self.ranking,
            "features": features,
            "shap": {key: json_value(value) for key, value in self.shap.items()},
        }


def importance(
    model_uri: str,
    data: pd.DataFrame | str | Any,
    target: str,
    *,
    metric: str | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    shap: bool = True,
    shap_rows: int = 200,
    kernel_rows: int = 50,
    nsamples: int | None = None,
    store: bool = True,
    allow_code: bool = False,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> ImportanceResult:
    """Permutation importance and mean |SHAP| of ``model_uri`` on ``data`` (see the module
    docstring), stored with the model's run unless ``store=False``.

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3`` or ``runs:/<id>/model``.
        data: validation rows with the target column: a DataFrame or a CSV/Parquet/JSON file
            (at most 10,000 rows are used, sampled with ``seed``).
        target: the target column.
        metric: the score to permute (default: accuracy or r2).
        n_repeats: shuffles per column (>= 2 for a spread).
        seed: for the shuffles and samples.
        shap: also compute mean |SHAP|.
        shap_rows: rows explained for mean |SHAP| (exact methods).
        kernel_rows: rows explained when only KernelSHAP applies (it is far slower).
        nsamples: KernelSHAP coalitions per row (None: shap's default).
        store: write ``explain/importance.json`` and ``explain/importance.png`` to the run.
        allow_code: trust pickled code (python-function models need it).
        tracking_uri, settings: the store, as for :func:`modelkeep.monitor.run_monitor`.

    Raises:
        InvalidInputError: a missing target column, a metric that does not fit the model,
            ``n_repeats < 1``, or rows the model does not take.
        NotFoundError: unknown model.

    Example:
        >>> result = importance("models:/churn@champion", "valid.csv", "churned")  # doctest: +SKIP
        >>> result.ranking[0]  # doctest: +SKIP
        'tenure'
    """
    from modelkeep.data.io import read_table
    from modelkeep.tracking import Client

    settings = settings or Settings()
    table = read_table(data)
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        model = client.load_model(model_uri, allow_code=allow_code)
        run_id = client.resolve_model_uri(model_uri).run_id
        result = compute_importance(
            model, table, target, metric=metric, n_repeats=n_repeats, seed=seed, shap=shap,
            shap_rows=shap_rows, kernel_rows=kernel_rows, nsamples=nsamples,
        )  # fmt: skip
        version = None if model.version is None else str(model.version.version)
        result = _with_origin(result, model_uri, version, run_id if store else None)
        if store:
            store_importance(client, run_id, result)
    return result


def compute_importance(
    model: LoadedModel,
    data: pd.DataFrame,
    target: str,
    *,
    metric: str | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    shap: bool = True,
    shap_rows: int = 200,
    kernel_rows: int = 50,
    nsamples: int | None = None,
) -> ImportanceResult:
    """:func:`importance` for a loaded model, without storing anything."""
    if target not in data.columns:
        raise InvalidInputError(f"target: no column {target!r} in the data", field="target")
    if n_repeats < 1:
        raise InvalidInputError("n_repeats: at least 1 is needed", field="n_repeats")
    if len(data) > MAX_ROWS:
        data = data.sample(n=MAX_ROWS, random_state=seed)
    data = data.reset_index(drop=True)
    parts = split_model(model, data.drop(columns=[target]))
    X = parts.validate(data.drop(columns=[target]))
    y = data[target].to_numpy()
    if len(X) < 2:
        raise InvalidInputError("data: at least 2 rows are needed", field="data")
    spec = _metric(metric, parts.is_classifier)
    classes = list(parts.classes) if parts.classes else sorted(pd.unique(y).tolist())
    baseline, drops = _permutation_drops(model, X, y, spec, classes, n_repeats, seed)
    shap_info, mean_abs = _mean_abs_shap(model, X, shap, shap_rows, kernel_rows, nsamples, seed)
    table = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance_mean": [float(np.mean(drops[c])) for c in X.columns],
            "importance_std": [float(np.std(drops[c])) for c in X.columns],
            "mean_abs_shap": [float(mean_abs.get(c, np.nan)) for c in X.columns],
        }
    )
    table = table.sort_values("importance_mean", ascending=False, kind="stable")
    return ImportanceResult(
        table=table.reset_index(drop=True),
        repeats={c: [float(v) for v in drops[c]] for c in X.columns},
        metric=spec.name,
        greater_is_better=spec.greater_is_better,
        baseline_score=baseline,
        n_repeats=n_repeats,
        rows=len(X),
        seed=seed,
        shap=shap_info,
    )


def store_importance(client: Any, run_id: str, result: ImportanceResult) -> None:
    """Write ``result`` as ``explain/importance.json`` and its plot as
    ``explain/importance.png`` among the artifacts of run ``run_id``."""
    from modelkeep.explain.plots import importance_png

    text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    client.artifacts.log_bytes(run_id, text.encode(), IMPORTANCE_JSON)
    table = result.table
    shap_column = table["mean_abs_shap"] if table["mean_abs_shap"].notna().any() else None
    png = importance_png(
        list(table["feature"]),
        table["importance_mean"],
        table["importance_std"],
        shap_column,
        metric=result.metric,
    )
    client.artifacts.log_bytes(run_id, png, IMPORTANCE_PNG)


def _with_origin(
    result: ImportanceResult, model_uri: str, version: str | None, run_id: str | None
) -> ImportanceResult:
    import dataclasses

    return dataclasses.replace(result, model_uri=model_uri, version=version, run_id=run_id)


def _metric(name: str | None, is_classifier: bool) -> Any:
    from modelkeep.train.metrics import METRICS

    task = "classification" if is_classifier else "regression"
    chosen = name or ("accuracy" if is_classifier else "r2")
    spec = METRICS.get(chosen)
    if spec is None or spec.task != task:
        fitting = [m for m, s in METRICS.items() if s.task == task]
        raise InvalidInputError(
            f"metric: {chosen!r} does not score a {task} model; use one of {', '.join(fitting)}",
            field="metric",
        )
    return spec


def _permutation_drops(
    model: LoadedModel,
    X: pd.DataFrame,
    y: NDArray[Any],
    spec: Any,
    classes: list[Any],
    n_repeats: int,
    seed: int,
) -> tuple[float, dict[str, NDArray[np.float64]]]:
    """(baseline score, per column the signed score drop of each repeat)."""
    rng = np.random.default_rng(seed)
    n = len(X)
    baseline = _score(model, X, y, spec, classes)
    sign = 1.0 if spec.greater_is_better else -1.0
    drops: dict[str, NDArray[np.float64]] = {}
    for column in X.columns:
        # All repeats of one column in one call: one predict over n_repeats * n rows.
        shuffled = pd.concat([X] * n_repeats, ignore_index=True)
        values = X[column].to_numpy()
        order = np.concatenate([rng.permutation(n) for _ in range(n_repeats)])
        shuffled[column] = pd.Series(values[order], dtype=X[column].dtype)
        outputs = _outputs(model, shuffled, spec)
        scores = [spec.score(y, outputs[r * n : (r + 1) * n], classes) for r in range(n_repeats)]
        drops[str(column)] = sign * (baseline - np.asarray(scores, dtype=float))
    return baseline, drops


def _outputs(model: LoadedModel, X: pd.DataFrame, spec: Any) -> NDArray[Any]:
    if spec.needs_proba:
        return np.asarray(model.predict_proba(X), dtype=float)
    return np.asarray(model.predict(X))


def _score(model: LoadedModel, X: pd.DataFrame, y: NDArray[Any], spec: Any, classes: Any) -> float:
    return float(spec.score(y, _outputs(model, X, spec), classes))


def _mean_abs_shap(
    model: LoadedModel,
    X: pd.DataFrame,
    wanted: bool,
    shap_rows: int,
    kernel_rows: int,
    nsamples: int | None,
    seed: int,
) -> tuple[dict[str, Any], dict[str, float]]:
    """(how it was computed, per column mean |attribution|); exact methods first."""
    if not wanted:
        return {"skipped": "not asked for"}, {}
    explained: Explanation | None = None
    reasons: list[str] = []
    for method, limit in (("tree", shap_rows), ("linear", shap_rows), ("kernel", kernel_rows)):
        rows = X if len(X) <= limit else X.sample(n=limit, random_state=seed)
        try:
            explained = explain_model(
                model, rows, background=X, method=method, nsamples=nsamples, seed=seed
            )
            break
        except InvalidInputError as exc:
            if exc.field != "method":
                raise
            reasons.append(exc.message)
    if explained is None:
        return {"skipped": "; ".join(reasons)}, {}
    means = explained.attributions.abs().mean(axis=0)
    info = {
        "method": explained.method,
        "output_space": explained.output_space,
        "rows": len(explained.attributions),
        "additivity_error": explained.additivity_error,
    }
    return info, {str(name): float(value) for name, value in means.items()}
