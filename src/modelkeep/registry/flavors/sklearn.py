"""scikit-learn flavor: estimators and Pipelines saved with skops, never with pickle.

Save writes ``model.skops`` (``skops.io.dump``) and records in ``flavor_options`` the types of
the file that skops does not trust on its own (``skops.io.get_untrusted_types``), e.g.
``sklearn.tree._tree.Tree`` for tree ensembles. Load, after the package was verified:

1. refuses (:class:`~modelkeep.exceptions.UnsafeModelError`, naming them) when a recorded type
   is off modelkeep's allowlist (:mod:`modelkeep.registry.allowlist`) and ``allow_code`` is
   False;
2. loads with ``skops.io.load(file, trusted=<recorded types>)``: skops audits the file's types
   before constructing anything and refuses any type that was not recorded
   (:class:`~modelkeep.exceptions.PackageIntegrityError`), and a file that is not a skops zip
   at all (a pickle passed off as ``model.skops``) fails to open, without being unpickled;
3. checks every decision tree's node arrays (children point forward and inside the tree,
   features inside the estimator's input width): scikit-learn indexes them without bounds
   checks, so a crafted file could otherwise make ``predict`` read out of bounds.

Round trips are bit-identical: skops stores every array with its exact bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modelkeep.exceptions import PackageIntegrityError, UnsafeModelError
from modelkeep.registry.allowlist import untrusted
from modelkeep.registry.flavors.base import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    distribution_version,
    module_in_mro,
    package_file,
)

__all__ = ["FLAVOR", "SklearnFlavor", "SklearnModel"]

_FILE = "model.skops"
_LIBRARIES = ("scikit-learn", "skops", "numpy", "scipy")
# skops raises these for a file that is not a well-formed skops archive of known types.
_READ_ERRORS = (zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError, ImportError)


class SklearnModel(FlavorModel):
    """A loaded scikit-learn estimator."""

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator

    @property
    def raw(self) -> Any:
        return self._estimator

    def predict(self, data: Any) -> Any:
        return self._estimator.predict(data)

    @property
    def has_proba(self) -> bool:
        return hasattr(self._estimator, "predict_proba")

    def predict_proba(self, data: Any) -> Any:
        if not self.has_proba:
            return super().predict_proba(data)
        return self._estimator.predict_proba(data)


class SklearnFlavor(Flavor):
    """scikit-learn estimators (anything deriving from ``sklearn.base.BaseEstimator``)."""

    name = "sklearn"
    priority = 500
    runs_code = False

    @classmethod
    def handles(cls, model: Any) -> bool:
        return module_in_mro(model, "sklearn") and hasattr(model, "get_params")

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        import skops.io

        path = directory / _FILE
        skops.io.dump(model, path)
        types = sorted(skops.io.get_untrusted_types(file=path))
        versions = {
            name: version
            for name in _LIBRARIES
            if (version := distribution_version(name)) is not None
        }
        return SavedFlavor({"file": _FILE, "trusted_types": types}, versions, [])

    def audit(self, directory: Path, options: Mapping[str, Any]) -> None:
        """Refuse a file that is not a skops archive (a pickle passed off as ``model.skops``)
        by reading its zip directory only; the types it needs are checked when it is loaded."""
        path, file_name = package_file(directory, options, _FILE)
        try:
            with zipfile.ZipFile(path) as archive:
                if "schema.json" not in archive.namelist():
                    raise zipfile.BadZipFile("no schema.json in the archive")
        except (zipfile.BadZipFile, OSError) as exc:
            raise _not_skops(file_name, exc) from None

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        path, file_name = package_file(directory, options, _FILE)
        listed = options.get("trusted_types") or []
        if not isinstance(listed, list):
            raise PackageIntegrityError(
                "MODEL.json: trusted_types must be a list of type names", field="MODEL.json"
            )
        recorded = [str(name) for name in listed]
        _refuse_unlisted(file_name, recorded, allow_code)
        # One pass: skops audits every type against ``trusted`` before it builds anything.
        try:
            estimator = skops.io.load(path, trusted=recorded)
        except UntrustedTypesFoundException as exc:
            raise PackageIntegrityError(
                f"{file_name} holds types its manifest did not record ({_first_line(exc)}); "
                "the package was altered after saving, so it is refused",
                field=file_name,
            ) from None
        except _READ_ERRORS as exc:
            raise _not_skops(file_name, exc) from None
        check_trees(estimator, file_name)
        return SklearnModel(estimator)


def _refuse_unlisted(file_name: str, recorded: list[str], allow_code: bool) -> None:
    refused = untrusted(recorded)
    if refused and not allow_code:
        raise UnsafeModelError(
            f"{file_name} needs types that are not on modelkeep's allowlist: "
            f"{', '.join(refused)}; load it with allow_code=True (--allow-code) only if you "
            "trust its source"
        )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _not_skops(file_name: str, exc: BaseException) -> PackageIntegrityError:
    return PackageIntegrityError(
        f"{file_name} is not a readable skops file ({type(exc).__name__}: {_first_line(exc)}); "
        "it was not "
        "written by this flavor or needs other library versions (see MODEL.json)",
        field=file_name,
    )


# ---- tree structure checks ------------------------------------------------------------------


def check_trees(root: Any, file_name: str) -> None:
    """Refuse any decision tree in ``root`` whose node arrays point outside themselves.

    Raises:
        PackageIntegrityError: naming ``file_name`` and what is wrong.
    """
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    for obj, width in _walk(root):
        problem = None
        if isinstance(obj, Tree):
            problem = _tree_problem(obj, width)
        elif isinstance(obj, TreePredictor):
            problem = _predictor_problem(obj, width)
        if problem is not None:
            raise PackageIntegrityError(
                f"{file_name} holds a malformed decision tree ({problem}); refused",
                field=file_name,
            )


def _walk(root: Any) -> Iterator[tuple[Any, int | None]]:
    """Every object reachable from ``root``, with the input width of its nearest estimator."""
    import numpy as np

    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(root, None)]
    while stack:
        obj, width = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj, width
        if isinstance(obj, np.ndarray):
            children = list(obj.ravel()) if obj.dtype == object else []
        elif isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            children = list(obj)
        else:
            attrs = getattr(obj, "__dict__", None)
            children = list(attrs.values()) if isinstance(attrs, dict) else []
            own = getattr(obj, "n_features_in_", None)
            if isinstance(own, int | np.integer) and own > 0:
                width = int(own)
        stack.extend((child, width) for child in children)


def _tree_problem(tree: Any, width: int | None) -> str | None:
    import numpy as np

    count = int(tree.node_count)
    if count < 1 or count > int(tree.capacity):
        return f"node_count {count} outside 1..{int(tree.capacity)}"
    limit = int(tree.n_features) if width is None else min(int(tree.n_features), width)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    return _nodes_problem(left, right, np.asarray(tree.feature), left == -1, limit)


def _predictor_problem(predictor: Any, width: int | None) -> str | None:
    import numpy as np

    nodes = predictor.nodes
    if len(nodes) < 1:
        return "a tree without nodes"
    leaf = nodes["is_leaf"].astype(bool)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    features = nodes["feature_idx"].astype(np.int64)
    problem = _nodes_problem(left, right, features, leaf, width)
    if problem is not None:
        return problem
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    n_bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if categorical.any() and int(nodes["bitset_idx"][categorical].max()) >= n_bitsets:
        return "a categorical split points past its bitsets"
    return None


def _nodes_problem(
    left: Any, right: Any, features: Any, leaf: Any, width: int | None
) -> str | None:
    import numpy as np

    count = len(left)
    index = np.arange(count)
    inner = ~np.asarray(leaf, dtype=bool)
    # Builders always number children after their parent: that also rules out cycles.
    for name, child in (("left", left), ("right", right)):
        bad = inner & ((child <= index) | (child >= count))
        if bad.any():
            return f"node {int(index[bad][0])} has {name} child {int(child[bad][0])}"
    feature = features[inner]
    outside = (feature < 0) | (feature >= (width if width is not None else np.inf))
    if outside.any():
        return f"a split on feature {int(feature[outside][0])} of {width} input features"
    return None


FLAVOR = SklearnFlavor
