"""python-function flavor: user code behind modelkeep's predict interface.

Subclass :class:`PythonModel`, implement ``predict`` (and ``predict_proba`` when there are class
probabilities), list any files it needs in ``artifacts``, and save the instance::

    class Doubler(PythonModel):
        artifacts = {"weights": "weights.json"}

        def load_context(self, artifacts):
            self.factor = json.loads(artifacts["weights"].read_text())["factor"]

        def predict(self, data):
            return data * self.factor

    save_package(Doubler(), Path("pkg"))

Save copies each artifact (a file or a directory) into the package under ``artifacts/<name>``
and writes the instance with cloudpickle (``python_model.pkl``). Loading unpickles it, which runs
code from the package, so :meth:`PythonModelFlavor.load` refuses unless ``allow_code=True``;
then it calls ``load_context`` with the paths of the copied artifacts.
"""

from __future__ import annotations

import abc
import re
import shutil
import types
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError
from modelkeep.registry.flavors.base import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    distribution_version,
    package_file,
    refuse_code,
)

__all__ = ["FLAVOR", "PythonModel", "PythonModelFlavor"]

_FILE = "python_model.pkl"
_ARTIFACTS_DIR = "artifacts"
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class PythonModel(abc.ABC):
    """Base class for models written as plain Python.

    Attributes:
        artifacts: name -> path of a file or directory to ship inside the package; after
            loading, :meth:`load_context` receives name -> path of the packaged copy.
    """

    artifacts: Mapping[str, str | PathLike[str]] = types.MappingProxyType({})

    def load_context(self, artifacts: Mapping[str, Path]) -> None:  # noqa: B027 - optional hook
        """Called once after loading, with the packaged artifacts; override to read them."""

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for ``data``."""

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities; override when the model has them."""
        raise InvalidInputError(
            f"{type(self).__name__} has no predict_proba; call predict instead", field="method"
        )


class _PythonModelAdapter(FlavorModel):
    def __init__(self, model: PythonModel) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        return self._model

    def predict(self, data: Any) -> Any:
        return self._model.predict(data)

    @property
    def has_proba(self) -> bool:
        return type(self._model).predict_proba is not PythonModel.predict_proba

    def predict_proba(self, data: Any) -> Any:
        return self._model.predict_proba(data)


class PythonModelFlavor(Flavor):
    """:class:`PythonModel` instances, saved with cloudpickle; loading runs their code."""

    name = "python_function"
    priority = 900
    runs_code = True

    @classmethod
    def handles(cls, model: Any) -> bool:
        return isinstance(model, PythonModel)

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        import cloudpickle

        copied = _copy_artifacts(model.artifacts, directory)
        with open(directory / _FILE, "wb") as handle:
            cloudpickle.dump(model, handle)
        options = {
            "file": _FILE,
            "artifacts": copied,
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
            shown = options.get("class", "a PythonModel")
            raise refuse_code(self.name, f"pickled Python code ({shown})")
        import cloudpickle

        path, file_name = package_file(directory, options, _FILE)
        with open(path, "rb") as handle:
            model = cloudpickle.load(handle)
        if not isinstance(model, PythonModel):
            raise PackageIntegrityError(
                f"{file_name} holds a {type(model).__qualname__}, not a PythonModel",
                field=file_name,
            )
        root = directory.resolve()
        paths: dict[str, Path] = {}
        for name, relative in dict(options.get("artifacts") or {}).items():
            path = (directory / str(relative)).resolve()
            if not path.is_relative_to(root):
                raise PackageIntegrityError(
                    f"artifact {name!r} points outside the package", field="MODEL.json"
                )
            paths[str(name)] = path
        model.load_context(types.MappingProxyType(paths))
        return _PythonModelAdapter(model)


def _copy_artifacts(
    artifacts: Mapping[str, str | PathLike[str]], directory: Path
) -> dict[str, str]:
    """Copy each artifact into ``directory/artifacts/<name>``; name -> relative path."""
    copied: dict[str, str] = {}
    for name, source in artifacts.items():
        if not _ARTIFACT_NAME.match(name):
            raise InvalidInputError(
                f"artifact name {name!r} must be letters, digits, '_', '-' or '.'",
                field="artifacts",
            )
        source_path = Path(source)
        target = directory / _ARTIFACTS_DIR / name
        target.parent.mkdir(exist_ok=True)
        if source_path.is_dir():
            # Links are copied as the files they point to: a package never holds a symlink.
            shutil.copytree(source_path, target, symlinks=False)
        elif source_path.is_file():
            shutil.copyfile(source_path, target)
        else:
            raise InvalidInputError(
                f"artifact {name!r}: {source_path} is not a file or directory", field="artifacts"
            )
        copied[name] = f"{_ARTIFACTS_DIR}/{name}"
    return copied


FLAVOR = PythonModelFlavor
