"""The model families a training config may name, each a factory ``(task, params, seed)``.

========================  ===============================  =========================
family                    classification                   regression
========================  ===============================  =========================
``logistic``              LogisticRegression               -
``linear``                -                                LinearRegression
``gradient_descent``      -                                GradientDescentRegressor
``random_forest``         RandomForestClassifier           RandomForestRegressor
``hist_gradient_boosting``  HistGradientBoostingClassifier   HistGradientBoostingRegressor
``lightgbm``              LGBMClassifier                   LGBMRegressor
``xgboost``               XGBClassifier                    XGBRegressor
========================  ===============================  =========================

``lightgbm`` and ``xgboost`` are used only when installed (``pip install modelkeep[all]``).
The config's ``seed`` becomes the estimator's ``random_state`` wherever it has one, so the
same config trains the same model.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.exceptions import InvalidInputError
from modelkeep.train.param_ranges import check_booster_params

__all__ = ["FAMILIES", "Family", "check_family", "make_estimator"]


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: the estimator class per task (``module:Class``), and the extra
    ``pip`` package it needs when that is not scikit-learn."""

    name: str
    classes: Mapping[str, str]  # task -> "module:Class"
    defaults: Mapping[str, Any]
    requires: str | None = None
    seeded: bool = True

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def available(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "logistic",
            {"classification": "sklearn.linear_model:LogisticRegression"},
            {"max_iter": 1000},
        ),
        Family(
            "linear",
            {"regression": "sklearn.linear_model:LinearRegression"},
            {},
            seeded=False,
        ),
        Family(
            "gradient_descent",
            {"regression": "modelkeep.train.gd:GradientDescentRegressor"},
            {},
            seeded=False,
        ),
        Family(
            "random_forest",
            {
                "classification": "sklearn.ensemble:RandomForestClassifier",
                "regression": "sklearn.ensemble:RandomForestRegressor",
            },
            {},
        ),
        Family(
            "hist_gradient_boosting",
            {
                "classification": "sklearn.ensemble:HistGradientBoostingClassifier",
                "regression": "sklearn.ensemble:HistGradientBoostingRegressor",
            },
            {},
        ),
        Family(
            "lightgbm",
            {"classification": "lightgbm:LGBMClassifier", "regression": "lightgbm:LGBMRegressor"},
            {"verbose": -1},
            requires="lightgbm",
        ),
        Family(
            "xgboost",
            {"classification": "xgboost:XGBClassifier", "regression": "xgboost:XGBRegressor"},
            {},
            requires="xgboost",
        ),
    )
}


def check_family(name: str, task: str) -> Family:
    """The family called ``name``, if it exists, fits ``task`` and is installed.

    Raises:
        InvalidInputError: (field ``model.family``) naming the known families, the families
            of the task, or the package to install.
    """
    family = FAMILIES.get(name)
    if family is None:
        raise InvalidInputError(
            f"model.family: unknown model family {name!r}; known families: {', '.join(FAMILIES)}",
            field="model.family",
        )
    if task not in family.classes:
        fitting = [f.name for f in FAMILIES.values() if task in f.classes]
        raise InvalidInputError(
            f"model.family: {name!r} does not do {task}; families for {task}: "
            f"{', '.join(fitting)}",
            field="model.family",
        )
    if not family.available():
        raise InvalidInputError(
            f"model.family: {name!r} needs the {family.requires} package; install it with "
            f"'pip install {family.requires}' (or modelkeep[all])",
            field="model.family",
        )
    return family


def make_estimator(name: str, task: str, params: Mapping[str, Any], seed: int) -> Any:
    """A new, unfitted estimator of family ``name`` for ``task``.

    Args:
        name: a key of :data:`FAMILIES`.
        task: ``classification`` or ``regression``.
        params: constructor arguments; they override the family defaults and the seed.
        seed: becomes ``random_state`` for families that take one.

    Raises:
        InvalidInputError: for an unknown, unfitting or missing family (``model.family``), or a
            parameter the estimator does not take (``model.params.<name>``).
    """
    family = check_family(name, task)
    module_name, _, class_name = family.classes[task].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = set(cls().get_params())
    unknown = [key for key in params if key not in accepted]
    if unknown:
        raise InvalidInputError(
            f"model.params.{unknown[0]}: {class_name} has no parameter {unknown[0]!r}; "
            f"it takes: {', '.join(sorted(accepted))}",
            field=f"model.params.{unknown[0]}",
        )
    check_booster_params(name, params)
    arguments = dict(family.defaults)
    if family.seeded and "random_state" in accepted:
        arguments["random_state"] = seed
    arguments.update(params)
    estimator = cls(**arguments)
    _check_values(estimator, class_name)
    return estimator


def _check_values(estimator: Any, class_name: str) -> None:
    """Refuse out-of-range parameter values now rather than at the first fit (scikit-learn's
    own constraint check; other libraries check theirs when fitting)."""
    validate = getattr(estimator, "_validate_params", None)
    if validate is None or not hasattr(estimator, "_parameter_constraints"):
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        text = str(exc)
        param = text.split("'")[1] if text.count("'") >= 2 else ""
        field = f"model.params.{param}" if param else "model.params"
        raise InvalidInputError(f"{field}: {' '.join(text.split())}", field=field) from None
