"""skl2onnx converters for the cleaning transformers of :mod:`modelkeep.data.cleaning`.

A pipeline trained by :mod:`modelkeep.train` starts with a ``ColumnTransformer`` whose numeric
branch may clip outliers (:class:`~modelkeep.data.cleaning.OutlierClipper`) and whose
categorical branch always groups rare and unseen categories
(:class:`~modelkeep.data.cleaning.RareCategoryGrouper`) and then imputes with a
``SimpleImputer``. skl2onnx 1.20 knows neither transformer, nor an imputer of strings whose
missing value is NaN; :func:`register_cleaning_converters` teaches it all three, with standard
ONNX operators:

* the clipper: ``Where(IsNaN(x), x, Min(Max(x, lower), upper))`` with the fitted per-column
  bounds in the input's float type, so NaN stays NaN for the imputer that follows (rounding to
  float32 is monotonic: the result is the native result rounded to float32);
* the grouper: per column, an ``ai.onnx.ml`` ``LabelEncoder`` (opset 2, strings to strings)
  that maps each kept category to itself and any other string to ``other``. A boolean column,
  which the serving runtime feeds as floats, is first spelled as scikit-learn's ``str`` does
  (``1 -> "True"``, ``0 -> "False"``); a ``ColumnTransformer`` hands the grouper its columns one
  by one for that, as it does for encoders;
* a ``SimpleImputer`` of NaN fed by the grouper: the identity. An ONNX string is never missing:
  the serving runtime feeds ``""`` for a null string, and the graph treats it as the string
  ``""`` (grouped like any other string), exactly as scikit-learn treats a literal ``""``.
  Nulls are imputed natively, so the runtime's verification on rows with missing values finds
  the difference and predicts those rows with the native model
  (:attr:`~modelkeep.serve.runtime.OnnxPredictor.route_missing`); rows without missing values
  run in ONNX. The grouper types its output :class:`GroupedStringTensorType`, and only that
  input changes an imputer's conversion: every other imputer keeps skl2onnx's converter.

Registration is global to skl2onnx, idempotent and lazy: :mod:`modelkeep.serve.onnx_convert`
calls :func:`register_cleaning_converters` right before each conversion.

Example:
    >>> register_cleaning_converters()
    >>> from skl2onnx import convert_sklearn  # doctest: +SKIP
    >>> graph = convert_sklearn(trained_pipeline, initial_types=types)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from skl2onnx import update_registered_converter
from skl2onnx.common._registration import get_converter, get_shape_calculator
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from skl2onnx.common.utils import check_input_and_output_numbers
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.proto import onnx_proto

__all__ = ["GroupedStringTensorType", "register_cleaning_converters"]

_CLIPPER = "ModelkeepOutlierClipper"
_GROUPER = "ModelkeepRareCategoryGrouper"
_IMPUTER = "SklearnSimpleImputer"
_ML = "ai.onnx.ml"
_BOOLEANS = {0.0: "False", 1.0: "True"}
_NOT_BOOLEAN = ""  # what a numeric value other than 0 and 1 (NaN) is spelled before grouping
_lock = threading.Lock()
_skl2onnx_imputer: dict[str, Any] = {}


class GroupedStringTensorType(StringTensorType):  # type: ignore[misc]
    """A string tensor made by the rare-category grouper (consumed by the imputer after it)."""


def register_cleaning_converters() -> None:
    """Register the converters of the module docstring with skl2onnx, once per process.

    Example:
        >>> register_cleaning_converters()
        >>> register_cleaning_converters()  # a second call changes nothing
    """
    from sklearn.impute import SimpleImputer

    from modelkeep.data.cleaning import OutlierClipper, RareCategoryGrouper

    with _lock:
        if _skl2onnx_imputer:
            return
        _skl2onnx_imputer["convert"] = get_converter(_IMPUTER)
        _skl2onnx_imputer["shape"] = get_shape_calculator(_IMPUTER)
        update_registered_converter(OutlierClipper, _CLIPPER, _clipper_shape, _convert_clipper)
        update_registered_converter(
            RareCategoryGrouper, _GROUPER, _grouper_shape, _convert_grouper
        )
        _unmerged_columns(RareCategoryGrouper)
        update_registered_converter(SimpleImputer, _IMPUTER, _imputer_shape, _convert_imputer)


def _unmerged_columns(model: type[Any]) -> None:
    """Have a ``ColumnTransformer`` give ``model`` its columns one by one, as it does for
    encoders: merged into one string tensor, a boolean column would be cast to "1" and "0"
    where scikit-learn writes "True" and "False" (should a later skl2onnx drop this setting,
    such a conversion differs from the native model and verification refuses it)."""
    from skl2onnx import _parse

    unmerged = getattr(_parse, "do_not_merge_columns", None)
    if isinstance(unmerged, tuple) and model not in unmerged:
        _parse.do_not_merge_columns = (*unmerged, model)


# ---- shapes -----------------------------------------------------------------------------------


def _width(operator: Any) -> int | None:
    widths = [variable.type.shape[1] for variable in operator.inputs]
    return None if any(width is None for width in widths) else int(sum(widths))


def _clipper_shape(operator: Any) -> None:
    check_input_and_output_numbers(operator, input_count_range=[1, None], output_count_range=1)
    double = all(isinstance(v.type, DoubleTensorType) for v in operator.inputs)
    kind = DoubleTensorType if double else FloatTensorType
    operator.outputs[0].type = kind([operator.inputs[0].get_first_dimension(), _width(operator)])


def _grouper_shape(operator: Any) -> None:
    check_input_and_output_numbers(operator, input_count_range=[1, None], output_count_range=1)
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = GroupedStringTensorType([rows, _width(operator)])


def _imputer_shape(operator: Any) -> None:
    """skl2onnx's shape calculator, except after a grouper (skl2onnx checks exact types)."""
    if not _after_grouper(operator):
        _skl2onnx_imputer["shape"](operator)
        return
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = StringTensorType([rows, _width(operator)])


def _after_grouper(operator: Any) -> bool:
    """Whether ``operator``, an imputer of NaN, takes only the grouper's output."""
    return (
        len(operator.inputs) == 1
        and isinstance(operator.inputs[0].type, GroupedStringTensorType)
        and not isinstance(operator.raw_operator.missing_values, str)
    )


# ---- converters -------------------------------------------------------------------------------


def _convert_clipper(scope: Any, operator: Any, container: Any) -> None:
    clipper, output = operator.raw_operator, operator.outputs[0]
    double = isinstance(output.type, DoubleTensorType)
    dtype = np.dtype(np.float64 if double else np.float32)
    proto = onnx_proto.TensorProto.DOUBLE if double else onnx_proto.TensorProto.FLOAT
    values = concatenate_variables(scope, operator.inputs, container, type(output.type))
    bounds = []
    for seed, bound in (("clip_lower", clipper.lower_), ("clip_upper", clipper.upper_)):
        name = scope.get_unique_variable_name(seed)
        array = np.asarray(bound, dtype=dtype)
        container.add_initializer(name, proto, [len(array)], array.tolist())
        bounds.append(name)
    raised, clipped, holes = (_variable(scope, seed) for seed in ("raised", "clipped", "isnan"))
    container.add_node("Max", [values, bounds[0]], [raised], name=_node(scope, "ClipMax"))
    container.add_node("Min", [raised, bounds[1]], [clipped], name=_node(scope, "ClipMin"))
    container.add_node("IsNaN", [values], [holes], name=_node(scope, "ClipIsNaN"))
    container.add_node(
        "Where", [holes, values, clipped], [output.full_name], name=_node(scope, "ClipWhere")
    )


def _convert_grouper(scope: Any, operator: Any, container: Any) -> None:
    grouper = operator.raw_operator
    categories = [[str(value) for value in kept] for kept in grouper.categories_]
    grouped: list[str] = []
    columns = _columns(scope, operator, container)
    for (name, strings), kept in zip(columns, categories, strict=True):
        text = name if strings else _booleans_as_text(scope, container, name, kept)
        out, other = _variable(scope, "grouped"), str(grouper.other)
        keys = kept or [other]  # LabelEncoder needs a key; nothing kept maps all to other
        container.add_node(
            "LabelEncoder", [text], [out], name=_node(scope, "GroupLabelEncoder"),
            op_domain=_ML, op_version=2,
            keys_strings=keys, values_strings=keys, default_string=other,
        )  # fmt: skip
        grouped.append(out)
    output = operator.outputs[0].full_name
    if len(grouped) == 1:
        container.add_node("Identity", grouped, [output], name=_node(scope, "GroupIdentity"))
    else:
        container.add_node("Concat", grouped, [output], name=_node(scope, "GroupConcat"), axis=1)


def _columns(scope: Any, operator: Any, container: Any) -> list[tuple[str, bool]]:
    """(name of an ``(n, 1)`` tensor, whether it holds strings) per input column."""
    columns: list[tuple[str, bool]] = []
    for variable in operator.inputs:
        strings = isinstance(variable.type, StringTensorType)
        width = variable.type.shape[1]
        if width == 1:
            columns.append((variable.full_name, strings))
            continue
        if width is None:
            raise ValueError("a RareCategoryGrouper needs inputs of a known number of columns")
        for index in range(width):
            position = _variable(scope, "column_index")
            container.add_initializer(position, onnx_proto.TensorProto.INT64, [1], [index])
            column = _variable(scope, "column")
            container.add_node(
                "Gather", [variable.full_name, position], [column],
                name=_node(scope, "GroupGather"), axis=1,
            )  # fmt: skip
            columns.append((column, strings))
    return columns


def _booleans_as_text(scope: Any, container: Any, name: str, kept: list[str]) -> str:
    """A numeric column of booleans (1, 0, NaN) spelled as scikit-learn's ``str`` does."""
    if not set(kept) <= set(_BOOLEANS.values()):
        raise ValueError(
            "a RareCategoryGrouper converts numeric inputs only for boolean columns; this one "
            f"keeps {kept[:3]}"
        )
    floats, text = _variable(scope, "as_float"), _variable(scope, "as_text")
    container.add_node(
        "Cast", [name], [floats], name=_node(scope, "GroupCast"), to=onnx_proto.TensorProto.FLOAT
    )
    container.add_node(
        "LabelEncoder", [floats], [text], name=_node(scope, "GroupBooleans"),
        op_domain=_ML, op_version=2, keys_floats=list(_BOOLEANS),
        values_strings=list(_BOOLEANS.values()), default_string=_NOT_BOOLEAN,
    )  # fmt: skip
    return text


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    if not _after_grouper(operator):
        _skl2onnx_imputer["convert"](scope, operator, container)
        return
    container.add_node(
        "Identity",
        [operator.inputs[0].full_name],
        [operator.outputs[0].full_name],
        name=_node(scope, "ImputeNothingMissing"),
    )


def _variable(scope: Any, seed: str) -> str:
    return str(scope.get_unique_variable_name(seed))


def _node(scope: Any, seed: str) -> str:
    return str(scope.get_unique_operator_name(seed))
