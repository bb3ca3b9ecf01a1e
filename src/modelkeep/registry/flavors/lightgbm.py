"""LightGBM flavor: boosters in LightGBM's own text model format.

Handles ``lightgbm.Booster`` and the scikit-learn wrappers (``LGBMClassifier``,
``LGBMRegressor``, ``LGBMRanker``). Save writes ``model.txt`` (``Booster.save_model``, which
keeps pandas categorical mappings) and, for a classifier, its class labels in
``flavor_options``. Load reads the text with ``lightgbm.Booster(model_file=...)``: no pickle, no
code. A classifier's ``predict`` / ``predict_proba`` are rebuilt exactly as ``LGBMClassifier``
computes them from the booster, so predictions after load equal those before save bit for bit.
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

__all__ = ["FLAVOR", "LightGBMFlavor", "LightGBMModel"]

_FILE = "model.txt"


class LightGBMModel(FlavorModel):
    """A loaded LightGBM booster; with ``classes`` it behaves as ``LGBMClassifier``."""

    def __init__(self, booster: Any, classes: Any = None) -> None:
        self._booster = booster
        self._classes = classes

    @property
    def raw(self) -> Any:
        return self._booster

    @property
    def has_proba(self) -> bool:
        return self._classes is not None

    def predict(self, data: Any) -> Any:
        import numpy as np

        if self._classes is None:
            return self._booster.predict(data)
        return self._classes[np.argmax(self.predict_proba(data), axis=1)]

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        if self._classes is None:
            return super().predict_proba(data)
        result = self._booster.predict(data)
        # Binary boosters give P(class 1) only; LGBMClassifier stacks the complement first.
        if result.ndim == 1:
            return np.vstack((1.0 - result, result)).transpose()
        return result


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster`` and ``lightgbm.LGBMModel`` wrappers, saved as LightGBM text."""

    name = "lightgbm"
    priority = 100
    runs_code = False

    @classmethod
    def handles(cls, model: Any) -> bool:
        return module_in_mro(model, "lightgbm") and (
            hasattr(model, "save_model") or hasattr(model, "booster_")
        )

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        import lightgbm

        booster = model if isinstance(model, lightgbm.Booster) else model.booster_
        booster.save_model(directory / _FILE)
        options: dict[str, Any] = {"file": _FILE, "wrapper": None}
        if not isinstance(model, lightgbm.Booster):
            options["wrapper"] = type(model).__name__
        if isinstance(model, lightgbm.LGBMClassifier):
            classes = model.classes_
            options["classes"] = classes.tolist()
            options["classes_dtype"] = classes.dtype.str
        versions = {
            name: version
            for name in ("lightgbm", "numpy")
            if (version := distribution_version(name)) is not None
        }
        return SavedFlavor(options, versions, [])

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        import lightgbm
        import numpy as np

        path, file_name = package_file(directory, options, _FILE)
        try:
            booster = lightgbm.Booster(model_file=path)
        except lightgbm.basic.LightGBMError as exc:
            raise PackageIntegrityError(
                f"{file_name} is not a LightGBM model file: {exc}", field=file_name
            ) from None
        classes = None
        if options.get("classes") is not None:
            dtype = np.dtype(str(options.get("classes_dtype", "O")))
            classes = np.asarray(options["classes"], dtype=dtype)
        return LightGBMModel(booster, classes)


FLAVOR = LightGBMFlavor
