"""The training config: one YAML file or dict, checked in full before any work starts.

Example ``train.yaml`` (every key but ``task``, ``data``, ``target`` and ``model`` optional)::

    task: classification            # or regression
    data: churn.csv                 # or {train: train.csv, test: test.csv}; relative paths
                                    # are read from the config file's folder
    target: churned
    features: [age, plan, usage]    # default: every column but the target (and time_column)
    cleaning: {impute: {numeric: median}, clip: iqr, imbalance: class_weight}
    model:
      family: random_forest         # see modelkeep.train.families
      params: {n_estimators: 200, max_depth: 8}
    split: {kind: stratified_kfold, n_splits: 5, test_size: 0.2}   # holdout|kfold|time too
    metrics: [roc_auc, accuracy]    # the first is the primary one (cross-validation, tuning)
    seed: 42
    experiment: churn
    run_name: rf-baseline
    register: {name: churn, alias: candidate, description: "Who leaves next month"}

A wrong key or value raises :class:`~modelkeep.exceptions.InvalidInputError` whose ``field``
is the dotted key (``model.family``, ``split.kind``, ``metrics``, ``cleaning.clip.method``) and
whose message names the allowed values. Checks that need the data (the target and feature
columns) run when the data is read, still before a run is created.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.metrics import DEFAULT_METRICS, METRICS
from modelkeep.train.splits import SPLIT_KINDS

__all__ = [
    "DataFiles",
    "ModelSpec",
    "RegisterSpec",
    "SplitSpec",
    "TrainConfig",
    "load_train_config",
    "read_yaml_config",
]

_STRICT = ConfigDict(extra="forbid")
_PARAM_LIMIT = 6000


class DataFiles(BaseModel):
    """``data:``: the training file, and optionally a separate test file."""

    model_config = _STRICT
    train: str
    test: str | None = None


class ModelSpec(BaseModel):
    """``model:``: the family and its estimator's constructor parameters."""

    model_config = _STRICT
    family: str
    params: dict[str, Any] = Field(default_factory=dict)


class SplitSpec(BaseModel):
    """``split:``: how the test set and the validation folds are drawn."""

    model_config = _STRICT
    kind: str = "holdout"
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    n_splits: int = Field(default=5, ge=2)
    time_column: str | None = None


class RegisterSpec(BaseModel):
    """``register:``: register the trained model under ``name`` (and point ``alias`` at it)."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    alias: str | None = None
    description: str = ""


# ``register`` is a config key. pydantic warns that the field shadows ``ABCMeta.register``, a
# method of the metaclass that instances never see, so the warning is silenced for this class.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", 'Field name "register"', UserWarning)

    class TrainConfig(BaseModel):
        """A checked training config; build it with :func:`load_train_config`."""

        model_config = _STRICT
        task: Literal["classification", "regression"]
        data: DataFiles
        target: str = Field(min_length=1)
        features: list[str] | None = None
        cleaning: dict[str, Any] = Field(default_factory=dict)
        model: ModelSpec
        split: SplitSpec = Field(default_factory=SplitSpec)
        metrics: list[str] = Field(default_factory=list)
        seed: int = 0
        experiment: str | None = None
        run_name: str | None = None
        register: RegisterSpec | None = None

        _source_text: str | None = PrivateAttr(default=None)

        @field_validator("data", mode="before")
        @classmethod
        def _one_file(cls, value: Any) -> Any:
            return {"train": str(value)} if isinstance(value, str | Path) else value

        @property
        def primary_metric(self) -> str:
            """The first metric: what cross-validation reports to ``on_fold`` and tuning ranks."""
            return self.metrics[0]

        def to_yaml(self) -> str:
            """The config as stored with the run: the file's own text when it came from a file,
            else the checked values as YAML."""
            if self._source_text is not None:
                return self._source_text
            import yaml

            return str(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))

        def flat_params(self) -> dict[str, str]:
            """Every setting as one ``dotted.key -> text`` run param (``model.params.max_depth``,
            ``split.kind``, ``cleaning.clip.method``...); lists are comma-joined."""
            flat: dict[str, str] = {}
            _flatten(self.model_dump(mode="json", exclude={"register"}), "", flat)
            if self.register is not None:
                flat["register.name"] = self.register.name
            return flat


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif value is not None:
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        # A run param holds at most 6000 characters (a long feature list can exceed it).
        out[prefix] = text if len(text) <= _PARAM_LIMIT else text[: _PARAM_LIMIT - 3] + "..."


def load_train_config(source: str | Path | Mapping[str, Any] | TrainConfig) -> TrainConfig:
    """Read and check a training config from a YAML file or a mapping with the same keys.

    Args:
        source: a path to a YAML file, a dict, or an already checked config (returned as is).

    Returns:
        The checked config, with ``metrics`` defaulted per task and relative data paths
        resolved against the config file's folder.

    Raises:
        InvalidInputError: the file is missing or not YAML (``field="config"``), or a key is
            unknown, missing or wrong (``field`` is the dotted key).

    Example:
        >>> cfg = load_train_config({"task": "regression", "data": "d.csv", "target": "y",
        ...                          "model": {"family": "linear"}})
        >>> cfg.metrics
        ['rmse', 'mae', 'r2']
    """
    if isinstance(source, TrainConfig):
        return source
    text: str | None = None
    base: Path | None = None
    if isinstance(source, str | Path):
        path = Path(source)
        text, raw = read_yaml_config(path)
        base = path.resolve().parent
    else:
        raw = source
    try:
        config = TrainConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise _invalid(exc) from None
    if base is not None:
        config.data = _resolve(config.data, base)
    _check(config)
    config._source_text = text
    return config


def read_yaml_config(path: Path) -> tuple[str, Mapping[str, Any]]:
    """The text and the top-level mapping of a YAML config file (InvalidInputError, field
    ``config``, when it is missing, not YAML or not a mapping)."""
    import yaml

    if not path.is_file():
        raise InvalidInputError(f"config file not found: {path}", field="config")
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path.name} is not UTF-8 text", field="config") from None
    except RecursionError:
        raise InvalidInputError(f"{path.name} is nested too deeply", field="config") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise InvalidInputError(f"{path.name} is not valid YAML{at}", field="config") from None
    if not isinstance(raw, Mapping):
        raise InvalidInputError(
            f"{path.name} must hold a mapping of config keys (task, data, target, model...)",
            field="config",
        )
    return text, raw


def _resolve(data: DataFiles, base: Path) -> DataFiles:
    def absolute(name: str | None) -> str | None:
        if name is None or Path(name).is_absolute():
            return name
        return str(base / name)

    return DataFiles(train=str(absolute(data.train)), test=absolute(data.test))


def _invalid(exc: ValidationError) -> InvalidInputError:
    """The first pydantic error as one line naming its dotted key."""
    # A typo shows up twice (an unknown key and a missing one): name the typo.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"{key}: unknown key; {hint}expected one of {', '.join(allowed)}"
    elif error["type"] == "missing":
        message = f"{key}: required key is missing"
    else:
        message = f"{key}: {error['msg']} (got {error.get('input')!r})"
    return InvalidInputError(message, field=key or "config")


def _allowed_keys(parent: tuple[int | str, ...]) -> list[str]:
    model: Any = TrainConfig
    for part in parent:
        annotation = model.model_fields[str(part)].annotation
        model = next(
            (arg for arg in getattr(annotation, "__args__", (annotation,)) if _is_model(arg)),
            annotation,
        )
    return list(model.model_fields)


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _check(config: TrainConfig) -> None:
    """The checks that need more than one key, or the family and metric tables."""
    from modelkeep.data.cleaning_config import parse_cleaning
    from modelkeep.train.families import check_family, make_estimator

    check_family(config.model.family, config.task)
    _check_metrics(config)
    _check_split(config)
    cleaning = parse_cleaning(config.cleaning)
    if cleaning.imbalance is not None and config.task != "classification":
        raise InvalidInputError(
            "cleaning.imbalance: only classification has classes to balance; remove it",
            field="cleaning.imbalance",
        )
    estimator = make_estimator(config.model.family, config.task, config.model.params, config.seed)
    if cleaning.imbalance == "class_weight" and "class_weight" not in estimator.get_params():
        raise InvalidInputError(
            f"cleaning.imbalance: {config.model.family!r} takes no class_weight; use "
            "oversample or undersample",
            field="cleaning.imbalance",
        )


def _check_metrics(config: TrainConfig) -> None:
    if not config.metrics:
        config.metrics = list(DEFAULT_METRICS[config.task])
        return
    for name in config.metrics:
        spec = METRICS.get(name)
        if spec is None:
            raise InvalidInputError(
                f"metrics: unknown metric {name!r}; known metrics: {', '.join(METRICS)}",
                field="metrics",
            )
        if spec.task != config.task:
            raise InvalidInputError(
                f"metrics: {name!r} is a {spec.task} metric; {config.task} metrics: "
                f"{', '.join(DEFAULT_METRICS[config.task])}",
                field="metrics",
            )
    if len(set(config.metrics)) != len(config.metrics):
        raise InvalidInputError("metrics: a metric is listed twice", field="metrics")


def _check_split(config: TrainConfig) -> None:
    split = config.split
    if split.kind not in SPLIT_KINDS:
        raise InvalidInputError(
            f"split.kind: unknown split kind {split.kind!r}; expected one of "
            f"{', '.join(SPLIT_KINDS)}",
            field="split.kind",
        )
    if split.kind == "stratified_kfold" and config.task != "classification":
        raise InvalidInputError(
            "split.kind: stratified_kfold needs classes; use kfold for regression",
            field="split.kind",
        )
    if split.kind == "time" and not split.time_column:
        raise InvalidInputError(
            "split.time_column: a time split needs the column that orders the rows",
            field="split.time_column",
        )
