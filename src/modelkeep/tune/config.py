"""The tuning config: a training config plus a ``tune:`` section, checked before any work.

Example ``tune.yaml`` (the keys above ``tune`` are the training config's, see
:mod:`modelkeep.train.config`; they are the base every trial starts from)::

    task: classification
    data: churn.csv
    target: churned
    model: {family: random_forest}
    split: {kind: stratified_kfold, n_splits: 3}
    metrics: [roc_auc, accuracy]
    register: {name: churn}              # the refit best model is registered under this name
    tune:
      metric: roc_auc                    # default: the first of ``metrics``
      direction: maximize                # default: from the metric (rmse, mae, log_loss: min)
      n_trials: 50                       # the study's total, over all workers and resumes
      timeout: 600                       # seconds per worker; n_trials and/or timeout
      sampler: tpe                       # tpe | random | cmaes | grid
      pruner: median                     # median | successive_halving | none, or
                                         # {kind: median, n_startup_trials: 5, ...}
      study: churn-rf                    # default: "<experiment>-<date>-<random>"
      storage: postgresql+psycopg://...  # an Optuna RDB storage; default: the store's journal
      jobs: 1                            # worker processes on this machine
      seed: 42                           # the sampler's seed; default: the config's seed
      refit: true                        # refit the best configuration and log it
      space:
        model.family: {type: categorical, choices: [random_forest, logistic]}
        model.params.n_estimators: {type: int, low: 20, high: 200, step: 20,
                                    when: {model.family: random_forest}}
        model.params.max_depth: {type: int, low: 2, high: 12, when: {model.family: random_forest}}
        model.params.C: {type: float, low: 0.001, high: 100, log: true,
                         when: {model.family: logistic}}

A search-space key is ``model.family`` or ``model.params.<name>``, where ``<name>`` must be a
constructor parameter of every family it may apply to (``when`` narrows that down). The
config's own ``model.params`` apply to trials of the config's family only; a trial of another
family starts from that family's defaults. Errors are
:class:`~modelkeep.exceptions.InvalidInputError` whose ``field`` is the dotted key, such as
``tune.space.model.params.max_dept`` or ``tune.sampler``.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.config import TrainConfig, load_train_config, read_yaml_config
from modelkeep.train.metrics import METRICS, greater_is_better
from modelkeep.tune.space import Choice, ParamSpec, SearchParam, check_space

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "SearchParam",
    "TuneConfig",
    "TuneSettings",
    "load_tune_config",
]

SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS: dict[str, str] = {
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "none": "NopPruner",
}
_STRICT = ConfigDict(extra="forbid", frozen=True)


class PrunerSpec(BaseModel):
    """``tune.pruner`` in its long form: the kind and the pruner's own keyword arguments."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["median", "successive_halving", "none"]


class TuneSettings(BaseModel):
    """The ``tune:`` section, as written (see the module docstring for every key)."""

    model_config = _STRICT
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    n_trials: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    sampler: Literal["tpe", "random", "cmaes", "grid"] = "tpe"
    pruner: Literal["median", "successive_halving", "none"] | PrunerSpec = "median"
    study: str | None = Field(default=None, min_length=1, max_length=200)
    storage: str | None = None
    jobs: int = Field(default=1, ge=1, le=256)
    seed: int | None = None
    refit: bool = True
    space: dict[str, ParamSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """A checked tuning config; build it with :func:`load_tune_config`.

    Attributes:
        train: the base training config (every trial starts from it).
        settings: the ``tune:`` section as written.
        space: the checked search space, unconditional parameters first.
        metric: the metric the study optimises (a training metric name).
        direction: ``maximize`` or ``minimize``.
        seed: the sampler's seed.
        source: the raw mapping (relative data paths made absolute); worker processes rebuild
            the config from it.
        text: the YAML text the config came from, if it came from a file.
    """

    train: TrainConfig
    settings: TuneSettings
    space: tuple[SearchParam, ...]
    metric: str
    direction: Literal["maximize", "minimize"]
    seed: int
    source: Mapping[str, Any]
    text: str | None = None

    def grid(self) -> dict[str, list[Choice]]:
        """The grid sampler's search space."""
        return {param.name: param.grid_values() for param in self.space}

    def base_families(self) -> tuple[str, ...]:
        """The families trials may use: the searched choices, else the config's one."""
        for param in self.space:
            if param.name == "model.family":
                return tuple(str(choice) for choice in param.choices)
        return (self.train.model.family,)


def load_tune_config(
    source: str | Path | Mapping[str, Any] | TuneConfig,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> TuneConfig:
    """Read and check a tuning config from a YAML file or a mapping with the same keys.

    Args:
        source: a path to a YAML file, a dict, or an already checked config.
        overrides: ``tune`` keys that replace the file's (``n_trials``, ``timeout``, ``study``,
            ``storage``, ``jobs`` from the command line); checked like the file's own.

    Returns:
        The checked config.

    Raises:
        InvalidInputError: a training key or a ``tune`` key is missing, unknown or wrong;
            ``field`` is the dotted key (``tune.space.model.params.max_dept``).

    Example:
        >>> cfg = load_tune_config({
        ...     "task": "regression", "data": "d.csv", "target": "y",
        ...     "model": {"family": "random_forest"},
        ...     "tune": {"n_trials": 5, "space": {
        ...         "model.params.max_depth": {"type": "int", "low": 2, "high": 6}}}})
        >>> cfg.metric, cfg.direction
        ('rmse', 'minimize')
    """
    if isinstance(source, TuneConfig):
        if not overrides:
            return source
        text, raw = source.text, dict(source.source)
    else:
        text, raw = _read_source(source)
    if "tune" not in raw:
        raise InvalidInputError(
            "tune: required key is missing; add a tune: section with at least a space",
            field="tune",
        )
    section = raw["tune"]
    if not isinstance(section, Mapping):
        raise InvalidInputError("tune: must be a mapping of tuning keys", field="tune")
    section = raw["tune"] = {**section, **(overrides or {})}
    train = load_train_config({k: v for k, v in raw.items() if k != "tune"})
    settings = _parse_settings(section)
    space = check_space(settings.space, train)
    metric = _check_metric(settings, train)
    if train.metrics[0] != metric:
        # Cross-validation reports the first metric to the pruner: make it the tuned one.
        metrics = [metric, *(name for name in train.metrics if name != metric)]
        train = train.model_copy(update={"metrics": metrics})
    direction: Literal["maximize", "minimize"] = settings.direction or (
        "maximize" if greater_is_better(metric) else "minimize"
    )
    _check_budget(settings, space)
    _check_sampler(settings)
    _check_pruner(settings.pruner)
    seed = train.seed if settings.seed is None else settings.seed
    return TuneConfig(train, settings, space, metric, direction, seed, raw, text)


def _read_source(source: str | Path | Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The raw mapping, with relative data paths resolved against the YAML file's folder."""
    if not isinstance(source, str | Path):
        if not isinstance(source, Mapping):
            raise InvalidInputError("a tune config is a YAML path or a mapping", field="config")
        return None, dict(source)
    path = Path(source)
    text, raw = read_yaml_config(path)
    return text, _absolute_data(dict(raw), path.resolve().parent)


def _absolute_data(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    def absolute(name: Any) -> Any:
        if isinstance(name, str) and not Path(name).is_absolute():
            return str(base / name)
        return name

    data = raw.get("data")
    if isinstance(data, str):
        raw["data"] = absolute(data)
    elif isinstance(data, Mapping):
        raw["data"] = {key: absolute(value) for key, value in data.items()}
    return raw


def _parse_settings(section: Mapping[str, Any]) -> TuneSettings:
    try:
        return TuneSettings.model_validate(dict(section))
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidInputError:
    """The first pydantic error as one line naming its dotted key (``tune.space.<key>...``)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    # Union members add their type name to the location; it means nothing to a user.
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("literal[", "PrunerSpec"))]
    key = ".".join(["tune", *loc])
    if error["type"] == "extra_forbidden":
        parent = loc[:-1]
        model: type[BaseModel] = ParamSpec if parent[:1] == ["space"] else TuneSettings
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"{key}: unknown key; {hint}expected one of {', '.join(allowed)}"
    elif error["type"] == "missing":
        message = f"{key}: required key is missing"
    else:
        message = f"{key}: {error['msg']} (got {error.get('input')!r})"
    return InvalidInputError(message, field=key)


def _check_metric(settings: TuneSettings, train: TrainConfig) -> str:
    metric = settings.metric or train.primary_metric
    spec = METRICS.get(metric)
    if spec is None or spec.task != train.task:
        fitting = [m.name for m in METRICS.values() if m.task == train.task]
        raise InvalidInputError(
            f"tune.metric: {metric!r} is not a {train.task} metric; use one of "
            f"{', '.join(fitting)}",
            field="tune.metric",
        )
    return metric


def _check_budget(settings: TuneSettings, space: tuple[SearchParam, ...]) -> None:
    if settings.sampler == "grid":
        for param in space:
            if param.kind == "float" and param.step is None:
                key = f"tune.space.{param.name}.step"
                raise InvalidInputError(
                    f"{key}: the grid sampler needs a step for a float parameter "
                    "(or make it categorical)",
                    field=key,
                )
        return
    if settings.n_trials is None and settings.timeout is None:
        raise InvalidInputError(
            "tune.n_trials: set n_trials and/or timeout, or the study never ends",
            field="tune.n_trials",
        )


def _check_sampler(settings: TuneSettings) -> None:
    if settings.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise InvalidInputError(
            "tune.sampler: cmaes needs the cmaes package; install it with 'pip install cmaes' "
            "or use tpe",
            field="tune.sampler",
        )


def _check_pruner(pruner: str | PrunerSpec) -> None:
    if isinstance(pruner, str):
        return
    accepted = pruner_arguments(pruner.kind)
    for name in pruner.model_extra or {}:
        if name not in accepted:
            key = f"tune.pruner.{name}"
            raise InvalidInputError(
                f"{key}: the {pruner.kind} pruner takes no {name!r}; it takes: "
                f"{', '.join(accepted) or 'nothing'}",
                field=key,
            )


def pruner_arguments(kind: str) -> list[str]:
    """The keyword arguments the Optuna pruner of ``kind`` accepts."""
    import optuna

    cls = getattr(optuna.pruners, PRUNERS[kind])
    return [name for name in inspect.signature(cls).parameters if name != "self"]
