"""The flavor table: which flavors exist, and which one saves a given model.

Built-in flavors are found by scanning the modules of this package for a module-level
``FLAVOR`` attribute (the :class:`~modelkeep.registry.flavors.base.Flavor` subclass), so adding a
flavor means adding one module and touching no other. Flavor modules import their framework
inside functions only: the scan stays cheap, and a flavor whose library is absent is still
listed (its ``handles`` says False, its ``load`` says what to install). Users add their own
with :func:`register_flavor`.

Example:
    >>> detect_flavor(LogisticRegression()).name  # doctest: +SKIP
    'sklearn'
    >>> get_flavor("onnx").priority
    100
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Any

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError
from modelkeep.registry.flavors.base import Flavor, FlavorModel, SavedFlavor

__all__ = [
    "Flavor",
    "FlavorModel",
    "SavedFlavor",
    "available_flavors",
    "detect_flavor",
    "get_flavor",
    "register_flavor",
]

_lock = threading.RLock()
_flavors: dict[str, Flavor] = {}
_scanned = False


def _scan_builtin() -> None:
    global _scanned
    with _lock:
        if _scanned:
            return
        for module_info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            flavor_cls = getattr(module, "FLAVOR", None)
            if isinstance(flavor_cls, type) and issubclass(flavor_cls, Flavor):
                # A user flavor registered before the first scan keeps its name.
                _flavors.setdefault(flavor_cls.name, flavor_cls())
        _scanned = True


def _table() -> dict[str, Flavor]:
    if not _scanned:
        _scan_builtin()
    return _flavors


def register_flavor(flavor_cls: type[Flavor], *, replace: bool = False) -> type[Flavor]:
    """Add a flavor to the table; usable as a class decorator.

    Args:
        flavor_cls: a concrete :class:`Flavor` subclass with a non-empty ``name``.
        replace: allow taking over a name that another flavor class already holds.

    Raises:
        InvalidInputError: not a Flavor subclass, or no name.
        AlreadyExistsError: the name is taken by another class and ``replace`` is False.
    """
    if not (isinstance(flavor_cls, type) and issubclass(flavor_cls, Flavor)):
        raise InvalidInputError(f"{flavor_cls!r} is not a Flavor subclass", field="flavor")
    name = getattr(flavor_cls, "name", "")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{flavor_cls.__name__} has no name", field="flavor")
    table = _table()
    with _lock:
        current = table.get(name)
        if current is not None and type(current) is not flavor_cls and not replace:
            raise AlreadyExistsError(
                f"flavor {name!r} is already {type(current).__qualname__}; "
                "pass replace=True to take it over",
                field="flavor",
            )
        table[name] = flavor_cls()
    return flavor_cls


def available_flavors() -> list[str]:
    """Names of every known flavor, in auto-detection order."""
    return [flavor.name for flavor in _ordered()]


def _ordered() -> list[Flavor]:
    return sorted(_table().values(), key=lambda flavor: (flavor.priority, flavor.name))


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name`` (InvalidInputError listing the known names when unknown)."""
    flavor = _table().get(name)
    if flavor is None:
        known = ", ".join(available_flavors())
        raise InvalidInputError(f"unknown flavor {name!r}; known flavors: {known}", field="flavor")
    return flavor


def detect_flavor(model: Any) -> Flavor:
    """The first flavor, in priority order, that can save ``model``.

    Raises:
        InvalidInputError: no flavor handles it.
    """
    for flavor in _ordered():
        if flavor.handles(model):
            return flavor
    raise InvalidInputError(
        f"no flavor can save a {type(model).__module__}.{type(model).__qualname__}; pass "
        "flavor=<name> explicitly, or wrap it in a modelkeep.registry.flavors.pyfunc.PythonModel "
        f"subclass (known flavors: {', '.join(available_flavors())})",
        field="flavor",
    )
