"""The flavor interface: how one kind of model is saved into, and loaded from, a package.

A flavor is a small stateless class. :meth:`Flavor.save` writes the model's files into an empty
directory and returns a :class:`SavedFlavor` (the options it needs to load them again, the
library versions that made them, pip requirements). :meth:`Flavor.load` turns that directory
back into a :class:`FlavorModel`, the uniform ``predict`` / ``predict_proba`` face the rest of
modelkeep uses. ``load`` is only called after the package's files were verified against
``MODEL.json``.

A flavor whose load executes arbitrary code (pickle, cloudpickle) sets ``runs_code = True`` and
refuses to load unless ``allow_code=True``; :func:`refuse_code` raises that refusal.

Writing one (then ``register_flavor(MyFlavor)``, or drop the module into
``modelkeep/registry/flavors/`` with a module-level ``FLAVOR = MyFlavor``)::

    class MyFlavor(Flavor):
        name = "mine"
        priority = 50

        @classmethod
        def handles(cls, model: Any) -> bool:
            return isinstance(model, MyModel)

        def save(self, model: Any, directory: Path) -> SavedFlavor:
            model.write(directory / "model.bin")
            return SavedFlavor({"file": "model.bin"}, {"mylib": mylib.__version__}, [])

        def load(self, directory, options, *, allow_code):
            return MyWrapped(MyModel.read(directory / options["file"]))
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError, UnsafeModelError

__all__ = [
    "Flavor",
    "FlavorModel",
    "SavedFlavor",
    "distribution_version",
    "module_in_mro",
    "package_file",
    "refuse_code",
]


@dataclass(slots=True)
class SavedFlavor:
    """What a flavor reports after writing its files.

    Attributes:
        options: JSON-ready values :meth:`Flavor.load` needs (file names, class labels...);
            stored in ``MODEL.json`` as ``flavor_options``.
        library_versions: distribution name -> version of the libraries the files depend on.
        requirements: extra pip requirement strings beyond the pinned library versions.
    """

    options: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)


class FlavorModel(abc.ABC):
    """A loaded model behind the uniform prediction interface.

    ``predict`` returns what the native model returns (labels for classifiers);
    ``predict_proba`` class probabilities, one column per class, when ``has_proba``.
    """

    @property
    @abc.abstractmethod
    def raw(self) -> Any:
        """The native model object (estimator, Booster, InferenceSession...)."""

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` (a DataFrame or array)."""

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`predict_proba` is available."""
        return False

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``; InvalidInputError when the model has none."""
        raise InvalidInputError(
            f"this {type(self.raw).__name__} model has no predict_proba; call predict instead",
            field="method",
        )


class Flavor(abc.ABC):
    """Saves and loads one kind of model. Stateless: one instance serves every call.

    Class attributes:
        name: the flavor's name in ``MODEL.json`` and in ``flavor=`` arguments.
        priority: auto-detection order, lower first. Specific libraries (LightGBM, XGBoost,
            ONNX: 100) come before scikit-learn (500), which comes before the code-running
            python-function (900) and pickle (1000) flavors.
        runs_code: loading executes code from the package; ``load`` then requires
            ``allow_code=True``.
    """

    name: ClassVar[str]
    priority: ClassVar[int] = 500
    runs_code: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def handles(cls, model: Any) -> bool:
        """Whether this flavor can save ``model``. Must not import an absent library."""

    @abc.abstractmethod
    def save(self, model: Any, directory: Path) -> SavedFlavor:
        """Write ``model``'s files into the existing, empty ``directory``."""

    def audit(self, directory: Path, options: Mapping[str, Any]) -> None:  # noqa: B027
        """Check, without deserialising anything, that the files look like what this flavor
        wrote (PackageIntegrityError otherwise). Run at registration, so a disguised payload
        never becomes a version. The default checks nothing."""

    @abc.abstractmethod
    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        """Load the model saved in ``directory`` with the ``options`` ``save`` returned.

        Raises:
            UnsafeModelError: loading would run code or trust unlisted types and
                ``allow_code`` is False.
            PackageIntegrityError: the files are not what this flavor wrote.
        """


def refuse_code(flavor: str, what: str) -> UnsafeModelError:
    """The refusal a code-running flavor raises when ``allow_code`` is False."""
    return UnsafeModelError(
        f"the {flavor!r} flavor loads {what}, which can run arbitrary code; load it only if "
        "you trust its source, with allow_code=True (--allow-code on the command line)"
    )


def package_file(directory: Path, options: Mapping[str, Any], default: str) -> tuple[Path, str]:
    """The flavor file named by ``options["file"]`` (else ``default``) and its name.

    The manifest lists, and :func:`~modelkeep.registry.manifest.verify_package` checks, only
    files inside the package, so a name that is absolute or climbs out is refused.

    Raises:
        PackageIntegrityError: the name is not a plain relative path, or no such file is there.
    """
    name = str(options.get("file", default))
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name:
        raise PackageIntegrityError(
            f"MODEL.json names flavor file {name!r}, which is not inside the package",
            field="MODEL.json",
        )
    if not (directory / name).is_file():
        raise PackageIntegrityError(
            f"MODEL.json names flavor file {name!r}, which the package does not hold",
            field="MODEL.json",
        )
    return directory / name, name


def module_in_mro(model: Any, package: str) -> bool:
    """Whether ``model``'s class or a base class is defined in ``package`` (or below it).

    Lets ``handles`` recognise a library's objects without importing the library.
    """
    prefix = package + "."
    for klass in type(model).__mro__:
        module = getattr(klass, "__module__", "") or ""
        if module == package or module.startswith(prefix):
            return True
    return False


def distribution_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
