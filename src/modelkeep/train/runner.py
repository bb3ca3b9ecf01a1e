"""``train(config)``: check, prepare, cross-validate, refit, evaluate, log, register.

The order matters: the config and the data are checked in full (keys, family, metrics,
split, model parameters, the target and feature columns) before a run is created, so a bad
config leaves nothing behind. Then, in one run of the fluent tracking API (the current
tracking URI, experiment ``config.experiment``):

1. params (the flattened config), tags ``modelkeep.task`` and ``modelkeep.family``, the
   training table as a dataset input (by digest), its profile and the config file;
2. the validation folds: ``cv_<metric>`` at step = fold, then ``cv_<metric>_mean``;
3. the refit on all training rows and ``test_<metric>`` on the held-out test rows;
4. ``gd_loss`` per iteration for the gradient-descent regressor, the plots, the monitoring
   reference (``reference.json``, from the test rows), and resource and energy use
   (:func:`modelkeep.energy.log_energy`: ``wall_seconds``, ``cpu_seconds``,
   ``peak_memory_mb``, ``energy_kwh``, ``co2_kg``, tag ``modelkeep.energy.method``,
   ``energy.json``; also ``wall_time_s`` and ``cpu_time_s``, the names of earlier releases);
5. the model package with its signature (``model``), then the registration if asked.

The building blocks are public for :mod:`modelkeep.tune`: :func:`prepare_data` once,
:func:`build_pipeline` and :func:`cross_validate` per trial, :func:`fit_and_log` for the
final model inside a run it owns.

Example:
    >>> from modelkeep.train import train
    >>> result = train("train.yaml")  # doctest: +SKIP
    >>> result.metrics["test_roc_auc"], result.model_uri  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelkeep.energy import EnergyMeter, log_energy
from modelkeep.exceptions import InvalidInputError
from modelkeep.train.config import TrainConfig, load_train_config
from modelkeep.train.metrics import compute_metrics
from modelkeep.train.prepare import PreparedData, prepare_data
from modelkeep.train.record import (
    TAG_FAMILY,
    TAG_TASK,
    log_cv_scores,
    log_descent,
    log_inputs,
    log_plots,
    log_reference,
)

if TYPE_CHECKING:
    from modelkeep.tracking import ActiveRun

__all__ = [
    "TrainResult",
    "build_pipeline",
    "cross_validate",
    "fit_and_log",
    "fit_final",
    "register_trained",
    "train",
    "with_params",
]

FoldCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        run_id: the training run.
        metrics: ``test_<metric>`` on the held-out rows and ``cv_<metric>_mean`` over the
            validation folds.
        model_uri: ``runs:/<run_id>/model``.
        version: the registered version, when the config asked to register.
    """

    run_id: str
    metrics: dict[str, float]
    model_uri: str
    version: int | None = None


def with_params(config: TrainConfig, params: Mapping[str, Any] | None) -> TrainConfig:
    """``config`` with ``params`` laid over ``model.params`` (checked again).

    A ``family`` key in ``params`` switches the model family (its other keys are then the new
    family's parameters, on top of ``model.params`` only when the family is unchanged).
    """
    if not params:
        return config
    extra = dict(params)
    family = str(extra.pop("family", config.model.family))
    base = dict(config.model.params) if family == config.model.family else {}
    raw = config.model_dump(mode="json")
    raw["model"] = {"family": family, "params": {**base, **extra}}
    # Rebuilt from a dict, so the stored config.yaml shows the params actually used.
    return load_train_config(raw)


def build_pipeline(
    config: TrainConfig | Any,
    params: Mapping[str, Any] | None = None,
    *,
    data: PreparedData | None = None,
    preprocessor: Any = None,
) -> Any:
    """The unfitted ``Pipeline([("preprocess", ColumnTransformer), ("model", estimator)])``.

    Args:
        config: a :class:`TrainConfig` or anything :func:`load_train_config` takes.
        params: model parameters over ``model.params`` (see :func:`with_params`).
        data: the prepared data; its feature dtypes decide how each column is cleaned. When
            omitted, the training table is read (pass it when building many pipelines).
        preprocessor: an unfitted preprocessor built earlier by
            ``build_preprocessor(config.cleaning, data.X_train, None)`` for this config's
            cleaning and data; a clone of it is used (pass it when building many pipelines).

    Raises:
        InvalidInputError: a bad family or parameter (``model.*``) or cleaning key.
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from modelkeep.data.cleaning import build_preprocessor, parse_cleaning
    from modelkeep.train.families import make_estimator

    config = with_params(load_train_config(config), params)
    if data is None:
        data = prepare_data(config)
    if preprocessor is None:
        preprocessor = build_preprocessor(config.cleaning, data.X_train, None)
    else:
        preprocessor = clone(preprocessor)
    model_params = dict(config.model.params)
    if parse_cleaning(config.cleaning).imbalance == "class_weight":
        model_params.setdefault("class_weight", "balanced")
    estimator = make_estimator(config.model.family, config.task, model_params, config.seed)
    _check_labels(config, data)
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])


def _check_labels(config: TrainConfig, data: PreparedData) -> None:
    """XGBoost's classifier takes only the labels 0..n-1 (the others encode labels themselves)."""
    if config.model.family != "xgboost" or data.classes is None:
        return
    if data.classes != list(range(len(data.classes))):
        raise InvalidInputError(
            f"target: xgboost needs class labels 0..{len(data.classes) - 1}, got "
            f"{', '.join(map(repr, data.classes[:5]))}; encode the target or use lightgbm",
            field="target",
        )


def _training_rows(config: TrainConfig, X: Any, y: Any) -> tuple[Any, Any]:
    """The rows a model is fitted on: resampled when ``cleaning.imbalance`` says so."""
    from modelkeep.data.cleaning import parse_cleaning, resample

    strategy = parse_cleaning(config.cleaning).imbalance
    if strategy == "oversample":
        return resample(X, y, "oversample", config.seed)
    if strategy == "undersample":
        return resample(X, y, "undersample", config.seed)
    return X, y


def cross_validate(
    config: TrainConfig | Any,
    pipeline: Any,
    data: PreparedData,
    on_fold: FoldCallback | None = None,
) -> list[dict[str, float]]:
    """Fit a clone of ``pipeline`` on each validation fold of the training rows and score it.

    Args:
        config: the config (its split, seed, metrics and cleaning).
        pipeline: an unfitted pipeline, e.g. from :func:`build_pipeline`; left unfitted.
        data: from :func:`prepare_data`.
        on_fold: called as ``on_fold(fold_index, score)`` after each fold with the primary
            metric's score (the first of ``metrics``); whatever it raises (a pruning
            signal, say) propagates and stops the remaining folds.

    Returns:
        One ``{metric: value}`` per fold, in fold order.
    """
    from sklearn.base import clone

    config = load_train_config(config)
    results: list[dict[str, float]] = []
    for index, (train_rows, valid_rows) in enumerate(data.folds):
        X, y = _training_rows(config, data.X_train.iloc[train_rows], data.y_train.iloc[train_rows])
        model = clone(pipeline).fit(X, y)
        scores = compute_metrics(
            model, data.X_train.iloc[valid_rows], data.y_train.iloc[valid_rows], config.metrics
        )
        results.append(scores)
        if on_fold is not None:
            on_fold(index, scores[config.primary_metric])
    return results


def fit_final(config: TrainConfig | Any, pipeline: Any, data: PreparedData) -> Any:
    """A clone of ``pipeline`` fitted on all training rows (resampled if asked)."""
    from sklearn.base import clone

    config = load_train_config(config)
    X, y = _training_rows(config, data.X_train, data.y_train)
    return clone(pipeline).fit(X, y)


def fit_and_log(
    run: ActiveRun,
    config: TrainConfig,
    data: PreparedData,
    pipeline: Any,
    fold_scores: Sequence[dict[str, float]] | None = None,
) -> tuple[dict[str, float], str]:
    """Steps 1-5 of the module docstring (without registering) inside ``run``.

    Args:
        fold_scores: the validation folds' scores when they are known already (a tuning
            trial of this very configuration computed them); else they are computed here.

    Returns:
        (the metrics of :attr:`TrainResult.metrics`, the model URI).
    """
    with EnergyMeter() as meter:
        log_inputs(run, config, data)
        if fold_scores is None:
            fold_scores = cross_validate(config, pipeline, data)
        cv_means = log_cv_scores(run, fold_scores)
        model = fit_final(config, pipeline, data)
        test = compute_metrics(model, data.X_test, data.y_test, config.metrics)
        test_metrics = {f"test_{name}": value for name, value in test.items()}
        run.log_metrics(test_metrics)
        log_descent(run, model.steps[-1][1])
        log_plots(run, config, data, model)
        log_reference(run, config, data, model)
    log_energy(run.client, run.id, meter.use)
    run.log_metrics({"wall_time_s": meter.use.wall_seconds, "cpu_time_s": meter.use.cpu_seconds})
    example = data.X_train.head(5)
    signature = _serving_signature(data.X_train, model.predict(example))
    info = run.log_model(model, "model", input_example=example, signature=signature)
    return {**test_metrics, **cv_means}, info.uri


def _serving_signature(frame: Any, output: Any) -> Any:
    """The signature of the training columns with every input nullable: the pipeline's own
    imputers handle missing values, so serving must not refuse rows that have some."""
    import dataclasses

    from modelkeep.registry.signature import infer_signature

    inferred = infer_signature(frame, output)
    nullable = tuple(dataclasses.replace(column, nullable=True) for column in inferred.inputs)
    return dataclasses.replace(inferred, inputs=nullable)


def register_trained(config: TrainConfig, model_uri: str, run_id: str) -> int | None:
    """Register ``model_uri`` as ``register.name`` (and set ``register.alias``) if asked."""
    if config.register is None:
        return None
    import modelkeep as mk

    spec = config.register
    version = mk.register_model(model_uri, name=spec.name, description=spec.description)
    if spec.alias:
        mk.set_alias(spec.name, spec.alias, version.version, reason=f"modelkeep train {run_id}")
    return int(version.version)


def train(config: TrainConfig | str | Any) -> TrainResult:
    """Train, evaluate, log and (if asked) register a model as a config describes.

    Args:
        config: a YAML file path, a dict with the same keys, or a :class:`TrainConfig`.

    Returns:
        The :class:`TrainResult`.

    Raises:
        InvalidInputError: a bad config or data, before any run is created; ``field`` names
            the key.
    """
    import modelkeep as mk

    checked = load_train_config(config)
    data = prepare_data(checked)
    pipeline = build_pipeline(checked, data=data)
    tags = {TAG_TASK: checked.task, TAG_FAMILY: checked.model.family}
    with mk.start_run(experiment=checked.experiment, run_name=checked.run_name, tags=tags) as run:
        metrics, model_uri = fit_and_log(run, checked, data, pipeline)
    version = register_trained(checked, model_uri, run.id)
    return TrainResult(run.id, metrics, model_uri, version)
