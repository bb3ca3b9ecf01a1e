"""XGBoost flavor: boosters in XGBoost's own UBJSON model format.

Handles ``xgboost.Booster`` and the scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``,
``XGBRanker``, ``XGBRF*``). Save writes ``model.ubj`` with ``save_model`` (a wrapper stores its
scikit-learn attributes, classes included, inside the same file) and records which wrapper class
to rebuild. Load instantiates that class from a fixed table (never an importable name taken from
the package) and calls ``load_model``: no pickle, no code. Predictions after load equal those
before save bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelkeep.exceptions import PackageIntegrityError
from modelkeep.registry.flavors.base import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    distribution_version,
    module_in_mro,
    package_file,
)

__all__ = ["FLAVOR", "XGBoostFlavor", "XGBoostModel"]

_FILE = "model.ubj"
_WRAPPERS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


class XGBoostModel(FlavorModel):
    """A loaded XGBoost booster or scikit-learn wrapper."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        return self._model

    def predict(self, data: Any) -> Any:
        import xgboost

        if isinstance(self._model, xgboost.Booster):
            return self._model.inplace_predict(data)
        return self._model.predict(data)

    @property
    def has_proba(self) -> bool:
        return hasattr(self._model, "predict_proba")

    def predict_proba(self, data: Any) -> Any:
        if not self.has_proba:
            return super().predict_proba(data)
        return self._model.predict_proba(data)


def _wrapper_name(model: Any) -> str | None:
    """The nearest built-in wrapper class of ``model`` (None for a bare Booster)."""
    for klass in type(model).__mro__:
        if klass.__module__.startswith("xgboost.") and klass.__name__ in _WRAPPERS:
            return klass.__name__
    return None


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` and ``xgboost.XGBModel`` wrappers, saved as UBJSON."""

    name = "xgboost"
    priority = 100
    runs_code = False

    @classmethod
    def handles(cls, model: Any) -> bool:
        if not module_in_mro(model, "xgboost"):
            return False
        import xgboost

        return isinstance(model, xgboost.Booster) or _wrapper_name(model) is not None

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        model.save_model(directory / _FILE)
        versions = {
            name: version
            for name in ("xgboost", "numpy")
            if (version := distribution_version(name)) is not None
        }
        return SavedFlavor({"file": _FILE, "wrapper": _wrapper_name(model)}, versions, [])

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        import xgboost

        path, file_name = package_file(directory, options, _FILE)
        wrapper = options.get("wrapper")
        if wrapper is not None and wrapper not in _WRAPPERS:
            raise PackageIntegrityError(
                f"unknown XGBoost wrapper {wrapper!r} in MODEL.json; expected one of "
                f"{', '.join(_WRAPPERS)}",
                field="MODEL.json",
            )
        model = xgboost.Booster() if wrapper is None else getattr(xgboost, wrapper)()
        try:
            model.load_model(path)
        except xgboost.core.XGBoostError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise PackageIntegrityError(
                f"{file_name} is not an XGBoost model file: {first_line}", field=file_name
            ) from None
        return XGBoostModel(model)


FLAVOR = XGBoostFlavor
