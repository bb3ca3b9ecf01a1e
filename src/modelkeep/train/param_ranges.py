"""Value ranges of the LightGBM and XGBoost parameters people set most, checked before a run.

scikit-learn estimators check their own parameters (``_validate_params``) without fitting;
LightGBM and XGBoost check theirs only when fitting, so a negative ``n_estimators`` would fail
inside a run that already exists. This table covers the documented ranges of their common
parameters (LightGBM's *Parameters* page, XGBoost's *XGBoost Parameters* page); anything not in
it is still checked by the library at fit time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.exceptions import InvalidInputError

__all__ = ["check_booster_params"]


@dataclass(frozen=True, slots=True)
class _Range:
    whole: bool  # an integer parameter
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed

    def describe(self) -> str:
        kind = "an integer" if self.whole else "a number"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        return kind + (" " + " and ".join(parts) if parts else "")

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value) or (self.whole and value != int(value)):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high


_COMMON = {
    "n_estimators": _Range(True, 1),
    "learning_rate": _Range(False, 0, low_open=True),
    "subsample": _Range(False, 0, 1, low_open=True),
    "colsample_bytree": _Range(False, 0, 1, low_open=True),
    "reg_alpha": _Range(False, 0),
    "reg_lambda": _Range(False, 0),
    "min_child_weight": _Range(False, 0),
}

_RANGES: dict[str, dict[str, _Range]] = {
    "lightgbm": {
        **_COMMON,
        "num_leaves": _Range(True, 2, 131072),
        "max_depth": _Range(True),  # <= 0 means no limit
        "min_child_samples": _Range(True, 0),
        "min_split_gain": _Range(False, 0),
        "subsample_freq": _Range(True, 0),
        "subsample_for_bin": _Range(True, 1, low_open=True),
    },
    "xgboost": {
        **_COMMON,
        "learning_rate": _Range(False, 0),
        "max_depth": _Range(True, 0),
        "max_leaves": _Range(True, 0),
        "max_bin": _Range(True, 2),
        "gamma": _Range(False, 0),
        "colsample_bylevel": _Range(False, 0, 1, low_open=True),
        "colsample_bynode": _Range(False, 0, 1, low_open=True),
        "scale_pos_weight": _Range(False, 0),
    },
}


def check_booster_params(family: str, params: Mapping[str, Any]) -> None:
    """Refuse a LightGBM/XGBoost parameter value outside its documented range.

    ``None`` (the library default) is always accepted; families other than ``lightgbm`` and
    ``xgboost`` are not checked here.

    Raises:
        InvalidInputError: ``field`` is ``model.params.<name>``.
    """
    ranges = _RANGES.get(family, {})
    for name, value in params.items():
        allowed = ranges.get(name)
        if allowed is None or value is None or allowed.admits(value):
            continue
        field = f"model.params.{name}"
        raise InvalidInputError(
            f"{field}: {value!r} is out of range; {family} takes {allowed.describe()}",
            field=field,
        )
