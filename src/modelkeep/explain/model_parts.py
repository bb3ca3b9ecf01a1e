"""A loaded model taken apart for explaining: preprocessing, final estimator, classes.

A scikit-learn ``Pipeline`` (what ``modelkeep train`` registers) splits into its
preprocessing steps and its final estimator; any other model is its own final estimator with
no preprocessing. The exact explainers (:mod:`modelkeep.explain.exact`) work on the final
estimator and the transformed rows, and use :func:`modelkeep.explain.columns.source_columns`
to report on the original columns.

Which class is explained (classifiers, i.e. models with ``predict_proba``): the positive class
(the second of ``classes_``) of a binary model, and the predicted class of each row of a
multiclass one (:func:`explained_classes`).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.loaded import LoadedModel

__all__ = [
    "Attribution",
    "ModelParts",
    "NotApplicableError",
    "explained_classes",
    "import_shap",
    "select_output",
    "split_model",
    "to_frame",
]


class NotApplicableError(Exception):
    """A method cannot explain this model (``method="auto"`` then tries the next one)."""


@dataclass(frozen=True)
class Attribution:
    """What one explaining method computed for n rows and p original columns.

    Attributes:
        values: (n, p) attributions on the original columns.
        base: (n,) the base value of each row (the expected output over the background, for
            the class explained in that row).
        outputs: (n,) the model's own output for each row in the explained space.
        space: ``probability``, ``log_odds``, ``margin`` or ``prediction``.
        method: ``tree``, ``linear`` or ``kernel``.
        background_rows: background rows the method used (0: none, path-dependent TreeSHAP
            takes the expectation over the trees' own training data).
    """

    values: NDArray[np.float64]
    base: NDArray[np.float64]
    outputs: NDArray[np.float64]
    space: str
    method: str
    background_rows: int


def import_shap() -> Any:
    """The ``shap`` module (imported lazily: it is an optional extra, and its import warns
    about matplotlib, which the test suite turns into errors)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module("shap")
    except ImportError:
        raise InvalidInputError(
            "SHAP attributions need the 'shap' package: pip install 'modelkeep[explain]'",
            field="method",
        ) from None


@dataclass(frozen=True)
class ModelParts:
    """A model's pieces.

    Attributes:
        model: the loaded model (its ``predict``/``predict_proba`` are the reference outputs).
        preprocess: the fitted preprocessing (a ``Pipeline`` of the steps before the last),
            or None.
        estimator: the final estimator (the whole raw model when there is no pipeline).
        columns: the original input columns, in the model's order.
        is_classifier: whether the model gives class probabilities.
        classes: the class labels in ``predict_proba`` column order, when known.
    """

    model: LoadedModel
    preprocess: Any
    estimator: Any
    columns: tuple[str, ...]
    is_classifier: bool
    classes: tuple[Any, ...] | None

    def transform(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """``frame`` (already validated) as the final estimator sees it, dense floats."""
        if self.preprocess is None:
            return np.asarray(frame, dtype=float)
        out = self.preprocess.transform(frame)
        if hasattr(out, "toarray"):
            out = out.toarray()
        return np.asarray(out, dtype=float)

    def validate(self, rows: Any) -> pd.DataFrame:
        """``rows`` checked against the signature, as a DataFrame in the model's column
        order (index reset)."""
        converted = self.model.validate_input(rows)
        frame = to_frame(converted, self.columns)
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"rows: missing column(s) {', '.join(missing)}", field=missing[0]
            )
        return frame.loc[:, list(self.columns)].reset_index(drop=True)


def split_model(model: LoadedModel, example: pd.DataFrame | None = None) -> ModelParts:
    """Take ``model`` apart (see the module docstring).

    Args:
        model: the loaded model.
        example: rows the model takes, used for the column names when neither the signature
            nor the estimator records them.
    """
    from sklearn.pipeline import Pipeline

    raw = model.raw
    preprocess: Any = None
    estimator = raw
    if isinstance(raw, Pipeline) and len(raw.steps) > 1:
        preprocess = raw[:-1]
        estimator = raw.steps[-1][1]
    columns = _input_columns(model, raw, example)
    classes = getattr(raw, "classes_", None)
    return ModelParts(
        model=model,
        preprocess=preprocess,
        estimator=estimator,
        columns=columns,
        is_classifier=model.has_proba,
        classes=None if classes is None else tuple(np.asarray(classes).tolist()),
    )


def _input_columns(model: LoadedModel, raw: Any, example: pd.DataFrame | None) -> tuple[str, ...]:
    signature = model.signature
    if signature is not None and signature.input_kind == "dataframe":
        return tuple(column.name for column in signature.inputs)
    names = getattr(raw, "feature_names_in_", None)
    if names is not None:
        return tuple(str(name) for name in names)
    if example is not None:
        return tuple(str(name) for name in example.columns)
    raise InvalidInputError(
        "the model records no input column names; send the rows as a table with named columns",
        field="rows",
    )


def to_frame(data: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    """``data`` (a DataFrame, or a 2-D array in ``columns`` order) as a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    array = np.asarray(data, dtype=object)
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise InvalidInputError(
            f"rows: a table of {len(columns)} columns ({', '.join(columns)}) is needed",
            field="rows",
        )
    return pd.DataFrame(array, columns=list(columns)).infer_objects()


def explained_classes(parts: ModelParts, proba: NDArray[Any] | None) -> NDArray[np.intp] | None:
    """Per row, the ``predict_proba`` column explained: the positive class (column 1) of a
    binary model, the predicted class of a multiclass one; None for a regressor."""
    if not parts.is_classifier or proba is None:
        return None
    matrix = np.asarray(proba, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise InvalidInputError("predict_proba must give one column per class", field="model")
    if matrix.shape[1] == 2:
        return np.ones(len(matrix), dtype=np.intp)
    return np.asarray(np.argmax(matrix, axis=1), dtype=np.intp)


def select_output(
    raw: Any, expected: Any, class_index: NDArray[np.intp] | None, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(n, p) values and (n,) base values of the explained output, from shap's answer (a list
    per output, an (n, p, outputs) array, or (n, p) for a single output)."""
    if isinstance(raw, list):
        raw = np.stack([np.asarray(part, dtype=float) for part in raw], axis=-1)
    values = np.asarray(raw, dtype=float)
    base = np.asarray(expected, dtype=float).reshape(-1)
    if values.ndim == 3:
        chosen = class_index if class_index is not None else np.zeros(n, dtype=np.intp)
        return np.asarray(values[np.arange(n), :, chosen]), base[chosen]
    return values.reshape(n, -1), np.full(n, base[0])
