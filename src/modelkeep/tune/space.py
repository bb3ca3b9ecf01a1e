"""The search space of a tuning config: ``tune.space``, checked against the model families.

A key is ``model.family`` or ``model.params.<name>``; ``<name>`` must be a constructor
parameter of every family it may apply to, which ``when: {model.family: ...}`` narrows down.
Every error names its dotted key (``tune.space.model.params.max_dept``) and, for a typo, the
closest parameter the estimator has.
"""

from __future__ import annotations

import difflib
import graphlib
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.config import TrainConfig
from modelkeep.train.families import FAMILIES, check_family

__all__ = ["Choice", "ParamSpec", "SearchParam", "check_space"]

Choice = str | int | float | bool | None
_FAMILY = "model.family"
_PARAMS = "model.params."


class ParamSpec(BaseModel):
    """One search-space entry as written in the YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Choice] | None = None
    when: dict[str, Choice | list[Choice]] | None = None


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One checked search dimension.

    Attributes:
        name: the dotted key (``model.family``, ``model.params.max_depth``); also the Optuna
            parameter name and the trial run's param key.
        kind: ``float``, ``int`` or ``categorical``.
        low, high, step, log: the range of a numeric parameter.
        choices: the values of a categorical parameter.
        when: conditions on other (categorical) parameters; the parameter is sampled only in
            trials where each named parameter took one of the listed values.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Choice, ...] = ()
    when: tuple[tuple[str, tuple[Choice, ...]], ...] = ()

    def applies(self, sampled: Mapping[str, Any]) -> bool:
        """Whether this parameter is active given the values sampled so far."""
        return all(sampled.get(key) in values for key, values in self.when)

    def grid_values(self) -> list[Choice]:
        """Every value a grid search visits (categorical choices, or the stepped range)."""
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        step = self.step if self.step is not None else 1.0
        # floor, with a little slack for float error: never a value above ``high``
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + i * step for i in range(count)]
        if self.kind == "int":
            return [int(round(v)) for v in values]
        return [round(v, 12) for v in values]


def check_space(space: Mapping[str, ParamSpec], train: TrainConfig) -> tuple[SearchParam, ...]:
    """The checked search space, unconditional parameters first.

    Raises:
        InvalidInputError: a key, range, condition or parameter name is wrong; ``field`` is
            its dotted key.
    """
    params = [_check_param(name, spec) for name, spec in space.items()]
    by_name = {param.name: param for param in params}
    families = _candidate_families(by_name, train)
    for param in params:
        _check_when(param, by_name)
    for param in params:
        if param.name.startswith(_PARAMS):
            _check_estimator_param(param, families, train.task)
    _check_class_weight(train, families)
    return _sampling_order(params, by_name)


def _sampling_order(
    params: list[SearchParam], by_name: Mapping[str, SearchParam]
) -> tuple[SearchParam, ...]:
    """Unconditional parameters first, then each parameter after every one its condition reads.

    Raises:
        InvalidInputError: conditions form a cycle; ``field`` names a parameter on it.
    """
    graph = {param.name: [cond for cond, _ in param.when] for param in params}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        key = f"tune.space.{cycle[0]}.when"
        raise InvalidInputError(
            f"{key}: conditions form a cycle ({' -> '.join(cycle)})", field=key
        ) from None
    rank = {name: index for index, name in enumerate(order)}
    return tuple(sorted(params, key=lambda p: (bool(p.when), rank[p.name])))


def _check_param(name: str, spec: ParamSpec) -> SearchParam:
    key = f"tune.space.{name}"
    if name != _FAMILY and not (name.startswith(_PARAMS) and len(name) > len(_PARAMS)):
        raise InvalidInputError(
            f"{key}: only {_FAMILY} and {_PARAMS}<name> can be searched", field=key
        )
    when = tuple(
        (cond, tuple(values) if isinstance(values, list) else (values,))
        for cond, values in (spec.when or {}).items()
    )
    if spec.type == "categorical":
        _refuse(key, spec, ("low", "high", "step", "log"), "a categorical parameter")
        if not spec.choices:
            raise InvalidInputError(f"{key}.choices: list at least one choice", field=key)
        if len(set(map(repr, spec.choices))) != len(spec.choices):
            raise InvalidInputError(f"{key}.choices: a choice is listed twice", field=key)
        return SearchParam(name, "categorical", choices=tuple(spec.choices), when=when)
    if name == _FAMILY:
        raise InvalidInputError(f"{key}.type: the model family is categorical", field=key)
    _refuse(key, spec, ("choices",), f"an {spec.type} parameter")
    return SearchParam(name, spec.type, *_check_range(key, spec), log=spec.log, when=when)


def _refuse(key: str, spec: ParamSpec, names: tuple[str, ...], what: str) -> None:
    for attr in names:
        if getattr(spec, attr) not in (None, False):
            raise InvalidInputError(f"{key}.{attr}: not used by {what}", field=f"{key}.{attr}")


def _check_range(key: str, spec: ParamSpec) -> tuple[float, float, float | None]:
    for attr in ("low", "high"):
        if getattr(spec, attr) is None:
            raise InvalidInputError(f"{key}.{attr}: required key is missing", field=key)
    low, high, step = float(spec.low or 0.0), float(spec.high or 0.0), spec.step
    for attr, bound in (("low", low), ("high", high), ("step", step)):
        if bound is not None and not math.isfinite(bound):
            raise InvalidInputError(
                f"{key}.{attr}: must be a finite number", field=f"{key}.{attr}"
            )
    if low > high:
        raise InvalidInputError(f"{key}: low ({low:g}) is above high ({high:g})", field=key)
    if spec.log and low <= 0:
        raise InvalidInputError(f"{key}.low: a log scale needs low > 0", field=f"{key}.low")
    if step is not None and step <= 0:
        raise InvalidInputError(f"{key}.step: must be positive", field=f"{key}.step")
    if spec.log and step is not None and not (spec.type == "int" and step == 1):
        raise InvalidInputError(
            f"{key}.step: a log-scale parameter takes no step", field=f"{key}.step"
        )
    if spec.type == "int" and any(v is not None and v != int(v) for v in (low, high, step)):
        raise InvalidInputError(f"{key}: an int parameter needs whole low/high/step", field=key)
    return low, high, step


def _check_when(param: SearchParam, by_name: Mapping[str, SearchParam]) -> None:
    for cond, values in param.when:
        key = f"tune.space.{param.name}.when.{cond}"
        other = by_name.get(cond)
        if other is None or other.kind != "categorical" or other is param:
            raise InvalidInputError(
                f"{key}: a condition must name another categorical parameter of the space",
                field=key,
            )
        unknown = [v for v in values if v not in other.choices]
        if unknown:
            raise InvalidInputError(
                f"{key}: {unknown[0]!r} is not one of {cond}'s choices "
                f"({', '.join(map(str, other.choices))})",
                field=key,
            )


def _candidate_families(by_name: Mapping[str, SearchParam], train: TrainConfig) -> list[str]:
    searched = by_name.get(_FAMILY)
    if searched is None:
        return [train.model.family]
    key = f"tune.space.{_FAMILY}.choices"
    for choice in searched.choices:
        if not isinstance(choice, str):
            raise InvalidInputError(f"{key}: {choice!r} is not a family name", field=key)
        try:
            check_family(choice, train.task)
        except InvalidInputError as exc:
            raise InvalidInputError(f"tune.space.{exc.message}", field=key) from None
    return [str(choice) for choice in searched.choices]


def _check_estimator_param(param: SearchParam, families: list[str], task: str) -> None:
    name = param.name.removeprefix(_PARAMS)
    key = f"tune.space.{param.name}"
    restricted = dict(param.when).get(_FAMILY)
    applicable = [f for f in families if restricted is None or f in restricted]
    for family in applicable:
        cls_name, accepted = _estimator_params(family, task)
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            scope = "" if restricted else f" (add when: {{{_FAMILY}: ...}} to limit it)"
            raise InvalidInputError(
                f"{key}: {cls_name} ({family}) has no parameter {name!r}; {hint}"
                f"it takes: {', '.join(accepted)}{scope}",
                field=key,
            )


def _check_class_weight(train: TrainConfig, families: list[str]) -> None:
    """``cleaning.imbalance: class_weight`` needs every searched family to take a class weight."""
    from modelkeep.data.cleaning_config import parse_cleaning

    if parse_cleaning(train.cleaning).imbalance != "class_weight":
        return
    for family in families:
        cls_name, accepted = _estimator_params(family, train.task)
        if "class_weight" not in accepted:
            key = f"tune.space.{_FAMILY}.choices"
            raise InvalidInputError(
                f"{key}: {family!r} ({cls_name}) takes no class_weight, which "
                "cleaning.imbalance asks for; drop it or use oversample/undersample",
                field=key,
            )


@cache
def _estimator_params(family: str, task: str) -> tuple[str, list[str]]:
    """The estimator class name and its constructor parameters, for ``family`` and ``task``."""
    module_name, _, class_name = FAMILIES[family].classes[task].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return class_name, sorted(cls().get_params())
