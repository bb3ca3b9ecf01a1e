"""Turning a scikit-learn model into an onnxruntime session, and the evidence that it is right.

The pieces :func:`modelkeep.serve.runtime.prepare_predictor` assembles:

* :func:`input_types` and :func:`convert_estimator`: skl2onnx conversions (zipmap off), with
  one ``float`` matrix input for numeric tables and tensors, or one input per column (named
  after it, ``string`` for string and category columns) where a ``ColumnTransformer`` picks
  columns by name or a column holds strings.
* :func:`validation_sample`: the input example plus :data:`SAMPLE_ROWS` rows drawn from it
  with a fixed seed (each column resampled from the example's values and, for numbers, spread
  across and a quarter beyond the example's range), split into rows without nulls and rows
  with nulls in the nullable columns; both validated exactly as the server validates requests.
* :func:`compare_outputs`: labels identical; probabilities within :data:`PROBA_ATOL`;
  regression values within :data:`VALUE_TOL` absolute plus relative.
* :func:`cache_path`, :func:`read_cached`, :func:`write_cached`: converted graphs kept beside
  the store, named by the package's root digest and a key over the converter and runtime
  versions, written atomically. A cached graph is only ever used after it passes the same
  verification as a fresh conversion, and like a package file it may not refer to external
  data (onnxruntime would read any local file it names).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelkeep.exceptions import ModelkeepError, PackageIntegrityError
from modelkeep.registry.flavors.onnx import refuse_external_data

if TYPE_CHECKING:
    import onnxruntime

    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ColumnSpec, ModelSignature

__all__ = [
    "PROBA_ATOL",
    "SAMPLE_ROWS",
    "SAMPLE_SEED",
    "VALUE_TOL",
    "ConversionRefused",
    "ValidationSample",
    "cache_path",
    "compare_outputs",
    "convert_estimator",
    "describe_error",
    "input_types",
    "make_session",
    "read_cached",
    "validation_sample",
    "write_cached",
]

SAMPLE_ROWS = 256
SAMPLE_SEED = 20260505
PROBA_ATOL = 1e-5
VALUE_TOL = 1e-5
_NULL_SHARE = 0.2
_CACHE_FORMAT = "1"
_KEYED_DISTRIBUTIONS = ("skl2onnx", "onnx", "onnxruntime", "scikit-learn")


class ConversionRefused(Exception):  # noqa: N818 - a refusal with a reason, caught in runtime
    """ONNX cannot serve this model; ``reason`` says why (logged, or raised as the runtime
    error in ``onnx`` mode). Never leaves :mod:`modelkeep.serve`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_session(data: bytes) -> onnxruntime.InferenceSession:
    """An onnxruntime session over the serialized graph ``data``, on one CPU thread.

    The server gets its parallelism from batching requests; a session that spreads one small
    batch over every core only adds synchronisation to each call.

    Raises:
        ConversionRefused: the bytes are not a self-contained graph onnxruntime can load.
    """
    import onnxruntime

    try:
        refuse_external_data(data, "the ONNX graph")
    except PackageIntegrityError as exc:
        raise ConversionRefused(exc.message) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # its warnings go to stderr, not to the logging system
    try:
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors share no base class below Exception
        raise ConversionRefused(
            f"onnxruntime cannot load the graph: {describe_error(exc)}"
        ) from None


# ---- conversion -------------------------------------------------------------------------------


def input_types(signature: ModelSignature, estimator: Any) -> list[tuple[str, Any]]:
    """skl2onnx's ``initial_types`` for ``estimator`` taking ``signature``'s inputs.

    One ``float`` matrix for a tensor or an all-numeric table, unless a ``ColumnTransformer``
    picks columns by name: then (and whenever a column holds strings) one ``(n, 1)`` input
    per column, named after it.

    Raises:
        ConversionRefused: a column has a dtype no ONNX input carries (datetimes, objects).
    """
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if signature.input_tensor is not None:
        dims = [None if size < 0 else size for size in signature.input_tensor.shape[1:]]
        return [("X", FloatTensorType([None, *dims]))]
    per_column: list[tuple[str, Any]] = []
    for spec in signature.inputs:
        if _is_number(spec):
            per_column.append((spec.name, FloatTensorType([None, 1])))
        elif spec.dtype in ("string", "category"):
            per_column.append((spec.name, StringTensorType([None, 1])))
        else:
            raise ConversionRefused(
                f"column {spec.name!r} has dtype {spec.dtype}, which no ONNX input carries"
            )
    numeric = all(_is_number(spec) for spec in signature.inputs)
    if numeric and not _selects_columns(estimator):
        return [("X", FloatTensorType([None, len(signature.inputs)]))]
    return per_column


def _selects_columns(estimator: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    parts = [estimator]
    if hasattr(estimator, "get_params"):
        parts += list(estimator.get_params(deep=True).values())
    return any(isinstance(part, ColumnTransformer) for part in parts)


def convert_estimator(estimator: Any, initial_types: list[tuple[str, Any]]) -> bytes:
    """``estimator`` converted by skl2onnx (inputs ``initial_types``, zipmap off), serialized.

    modelkeep's cleaning transformers convert too (:mod:`modelkeep.serve.onnx_cleaning`), and
    a tree-ensemble classifier's labels break probability ties as scikit-learn does
    (:func:`modelkeep.compress.onnx_labels.argmax_labels`).

    Raises:
        ConversionRefused: skl2onnx failed; the reason names its version and the error.
    """
    from skl2onnx import convert_sklearn
    from sklearn.base import is_classifier

    # Imported here: compress imports this module, and serving should not load compress early.
    from modelkeep.compress.onnx_labels import argmax_labels
    from modelkeep.serve.onnx_cleaning import register_cleaning_converters

    register_cleaning_converters()
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    try:
        with warnings.catch_warnings():
            # Converter chatter (deprecations inside skl2onnx) says nothing about this model.
            warnings.simplefilter("ignore")
            graph = convert_sklearn(estimator, initial_types=initial_types, options=options)
    except Exception as exc:  # converters raise anything from NameError to RuntimeError
        raise ConversionRefused(
            f"skl2onnx {_version('skl2onnx')} cannot convert this {type(estimator).__name__}: "
            f"{describe_error(exc)}"
        ) from None
    return bytes(argmax_labels(graph).SerializeToString())


def describe_error(exc: BaseException, limit: int = 200) -> str:
    """One line for a reason: the error's type and first line, cut short, and its cause's."""
    text = f"{type(exc).__name__}: {_first_line(exc, limit)}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        text += f" (from {type(cause).__name__}: {_first_line(cause, limit)})"
    return text


def _first_line(exc: BaseException, limit: int) -> str:
    if isinstance(exc, ModelkeepError):
        return exc.message
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _is_number(spec: ColumnSpec) -> bool:
    return spec.dtype == "bool" or spec.dtype.startswith(("int", "uint", "float"))


# ---- the validation sample --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidationSample:
    """Validated model inputs to compare runtimes on.

    Attributes:
        complete: rows without nulls: the example's own, then the drawn ones.
        with_nulls: rows holding at least one null, or None when nothing can be null.
    """

    complete: Any
    with_nulls: Any | None

    def __len__(self) -> int:
        return len(self.complete)


def validation_sample(model: LoadedModel) -> ValidationSample:
    """The input example plus :data:`SAMPLE_ROWS` drawn rows (seed :data:`SAMPLE_SEED`), each
    part validated by ``model.validate_input``.

    Raises:
        ConversionRefused: the package has no input example or signature, or the drawn rows
            do not pass its own signature.
    """
    example, signature = model.input_example, model.signature
    if example is None or signature is None:
        raise ConversionRefused(
            "the package has no input example to verify an ONNX conversion against "
            "(log the model with input_example=...)"
        )
    rng = np.random.default_rng(SAMPLE_SEED)
    complete: Any
    nulls: Any
    if signature.input_tensor is not None:
        complete, nulls = _tensor_sample(np.asarray(example), rng)
    else:
        complete, nulls = _frame_sample(pd.DataFrame(example), signature.inputs, rng)
    try:
        validated_nulls = None if nulls is None else model.validate_input(nulls)
        return ValidationSample(model.validate_input(complete), validated_nulls)
    except ModelkeepError as exc:
        raise ConversionRefused(
            f"rows drawn from the input example do not fit the signature: {exc.message}"
        ) from None


def _frame_sample(
    example: pd.DataFrame, specs: tuple[ColumnSpec, ...], rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    drawn = pd.DataFrame({spec.name: _draw(example[spec.name], spec, rng) for spec in specs})
    rows = pd.concat([example[[spec.name for spec in specs]], drawn], ignore_index=True)
    has_null = rows.isna().any(axis=1).to_numpy()
    nullable = [spec.name for spec in specs if spec.nullable]
    if not nullable:
        return rows, None
    holes = drawn.copy()
    for name in nullable:
        holes[name] = _punch(holes[name], rng.random(len(holes)) < _NULL_SHARE)
    holes = holes[holes.isna().any(axis=1).to_numpy()]
    with_nulls = pd.concat([rows[has_null], holes], ignore_index=True)
    return rows[~has_null].reset_index(drop=True), with_nulls


def _draw(column: pd.Series[Any], spec: ColumnSpec, rng: np.random.Generator) -> Any:
    present = column.dropna()
    if spec.dtype == "bool":
        return rng.random(SAMPLE_ROWS) < 0.5
    if _is_number(spec):
        values = _spread(present.to_numpy(np.float64), rng)
        if spec.dtype.startswith("float"):
            return values.astype(spec.dtype)
        limits = np.iinfo(np.dtype(spec.dtype))
        return np.clip(np.rint(values), limits.min, limits.max).astype(spec.dtype)
    if present.empty:
        raise ConversionRefused(f"column {spec.name!r} has no value in the input example")
    picks = rng.integers(0, len(present), SAMPLE_ROWS)
    return present.iloc[picks].reset_index(drop=True)


def _punch(column: pd.Series[Any], holes: np.ndarray) -> pd.Series[Any]:
    """``column`` with nulls where ``holes`` is set, in the dtype validation gives nullable
    data (NaN for floats, pandas' masked ``Int64``/``boolean`` for ints and bools)."""
    if column.dtype.kind in "iub":
        masked = "boolean" if column.dtype.kind == "b" else column.dtype.name.capitalize()
        column = column.astype(pd.api.types.pandas_dtype(masked.replace("Uint", "UInt")))
    return column.mask(holes)


def _spread(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half the rows resampled from ``values``, half uniform over and beyond their range."""
    if values.size == 0:
        values = np.zeros(1)
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else max(abs(high), 1.0)
    resampled = rng.choice(values, SAMPLE_ROWS)
    spread = rng.uniform(low - span / 4, high + span / 4, SAMPLE_ROWS)
    return np.where(rng.random(SAMPLE_ROWS) < 0.5, resampled, spread)


def _tensor_sample(
    example: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    flat = example.reshape(len(example), -1).astype(np.float64)
    columns = [_spread(flat[:, i][~np.isnan(flat[:, i])], rng) for i in range(flat.shape[1])]
    drawn = np.stack(columns, axis=1) if columns else np.zeros((SAMPLE_ROWS, 0))
    if example.dtype.kind == "b":
        drawn = drawn > np.median(drawn, axis=0)
    elif example.dtype.kind in "iu":
        limits = np.iinfo(example.dtype)
        drawn = np.clip(np.rint(drawn), limits.min, limits.max)
    rows = np.concatenate([example, drawn.reshape(-1, *example.shape[1:]).astype(example.dtype)])
    if example.dtype.kind != "f":
        return rows, None
    has_null = np.isnan(rows.reshape(len(rows), -1)).any(axis=1)
    holes = rows[len(example) :].copy()
    holes[rng.random(holes.shape) < _NULL_SHARE] = np.nan
    holes = holes[np.isnan(holes.reshape(len(holes), -1)).any(axis=1)]
    return rows[~has_null], np.concatenate([rows[has_null], holes])


# ---- comparison -------------------------------------------------------------------------------


def compare_outputs(
    expected: Any, actual: Any, *, what: str, tolerance: float | None
) -> str | None:
    """None when ``actual`` matches ``expected``, else what differs (for a reason).

    Args:
        expected: the native model's output.
        actual: the ONNX output, already shaped like the native one.
        what: "labels", "probabilities"... for the message.
        tolerance: None for exact equality (labels); else the absolute (and, for values that
            are not probabilities, relative) tolerance.
    """
    want, got = np.asarray(expected), np.asarray(actual)
    if want.shape != got.shape:
        return f"ONNX {what} have shape {got.shape}, the native model's {want.shape}"
    rows = len(want)
    if tolerance is None:
        bad = want != got
        worst = ""
    else:
        want64, got64 = want.astype(np.float64), got.astype(np.float64)
        relative = 0.0 if what == "probabilities" else tolerance
        close = np.isclose(got64, want64, rtol=relative, atol=tolerance, equal_nan=True)
        bad = ~close
        gaps = np.abs(got64 - want64)[bad]
        worst = f" by up to {np.nanmax(gaps):.3g} (tolerance {tolerance:g})" if gaps.size else ""
    failing = np.flatnonzero(np.asarray(bad).reshape(rows, -1).any(axis=1))
    if not failing.size:
        return None
    first = int(failing[0])
    return (
        f"ONNX {what} differ{worst} on {failing.size} of {rows} rows "
        f"(row {first}: ONNX {_show(got[first])}, native {_show(want[first])})"
    )


def _show(value: Any) -> str:
    shown = np.asarray(value)
    if shown.dtype.kind == "f":
        shown = shown.round(6)
    return repr(shown.tolist())


# ---- the cache --------------------------------------------------------------------------------


def cache_path(cache_dir: Path, root_digest: str) -> Path:
    """Where the conversion of the package ``root_digest`` is cached: the key covers the
    converter, ONNX, onnxruntime and scikit-learn versions, so an upgrade converts again."""
    parts = [f"format={_CACHE_FORMAT}"]
    parts += [f"{name}={_version(name)}" for name in _KEYED_DISTRIBUTIONS]
    key = hashlib.sha256(";".join(parts).encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir) / f"{root_digest}-{key}.onnx"


def read_cached(path: Path) -> bytes | None:
    """The cached graph's bytes, or None when there is none (or it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_cached(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Raises:
        OSError: the directory cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"
