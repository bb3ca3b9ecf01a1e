"""pickle flavor: any object with a ``predict`` method, saved with cloudpickle.

The last resort of auto-detection (priority 1000): it is chosen only when no other flavor
handles the object. Loading unpickles, which can run any code the file holds, so
:meth:`PickleFlavor.load` refuses unless ``allow_code=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelkeep.registry.flavors.base import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    distribution_version,
    package_file,
    refuse_code,
)

__all__ = ["FLAVOR", "PickleFlavor"]

_FILE = "model.pkl"


class _PickledModel(FlavorModel):
    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        return self._model

    def predict(self, data: Any) -> Any:
        return self._model.predict(data)

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self._model, "predict_proba", None))

    def predict_proba(self, data: Any) -> Any:
        if not self.has_proba:
            return super().predict_proba(data)
        return self._model.predict_proba(data)


class PickleFlavor(Flavor):
    """Arbitrary objects with ``predict``; loading runs pickled code."""

    name = "pickle"
    priority = 1000
    runs_code = True

    @classmethod
    def handles(cls, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        import cloudpickle

        with open(directory / _FILE, "wb") as handle:
            cloudpickle.dump(model, handle)
        options = {
            "file": _FILE,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
        }
        versions = {
            name: version
            for name in ("cloudpickle", "numpy")
            if (version := distribution_version(name)) is not None
        }
        return SavedFlavor(options, versions, [])

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        if not allow_code:
            shown = options.get("class")
            raise refuse_code(self.name, f"a pickled {shown}" if shown else "a pickled object")
        import cloudpickle

        path, _ = package_file(directory, options, _FILE)
        with open(path, "rb") as handle:
            return _PickledModel(cloudpickle.load(handle))


FLAVOR = PickleFlavor
