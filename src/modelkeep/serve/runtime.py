"""What runs a served model's predictions: its own library, or onnxruntime.

:func:`prepare_predictor` picks the runtime once, at load, and returns a :class:`Predictor`
whose ``predict`` / ``predict_proba`` take what ``LoadedModel.validate_input`` returns (the
server validates each batch once, so predictors never validate again).

``runtime="native"`` uses the package's flavor model. ``"onnx"`` and ``"auto"`` serve
scikit-learn models through a skl2onnx conversion (see :mod:`modelkeep.serve.onnx_convert`)
and ONNX packages through their own graph, in one onnxruntime session on one thread. A
conversion is only used after its outputs matched the native model's on the input example
and a seeded sample drawn from it. Rows with missing values are checked separately: when ONNX
treats them differently, those rows, and only those, go to the native model (skl2onnx 1.20
drops the per-node NaN direction scikit-learn's trees learn, onnx/sklearn-onnx#1253, so a
random forest's NaN rows are predicted natively and the rest by ONNX). In ``auto`` mode any
failure falls back to the native runtime with the reason logged on ``modelkeep.serve``; in
``onnx`` mode it is an :class:`~modelkeep.exceptions.InvalidInputError` (``field="runtime"``).

>>> predictor = prepare_predictor(model, "auto", cache_dir=home / "onnx")  # doctest: +SKIP
>>> predictor.name, predictor.reason  # doctest: +SKIP
('onnx', 'ONNX outputs matched the native model on 261 rows ...')
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.flavors.base import package_file
from modelkeep.serve.onnx_convert import (
    PROBA_ATOL,
    SAMPLE_ROWS,
    VALUE_TOL,
    ConversionRefused,
    ValidationSample,
    cache_path,
    compare_outputs,
    convert_estimator,
    describe_error,
    input_types,
    make_session,
    read_cached,
    validation_sample,
    write_cached,
)

if TYPE_CHECKING:
    import onnxruntime

    from modelkeep.registry.flavors.base import FlavorModel
    from modelkeep.registry.loaded import LoadedModel

__all__ = ["RUNTIMES", "NativePredictor", "OnnxPredictor", "Predictor", "prepare_predictor"]

RUNTIMES = ("auto", "native", "onnx")
logger = logging.getLogger("modelkeep.serve")

_BOOSTERS = {"lightgbm": "LightGBM", "xgboost": "XGBoost"}
_FLOATS = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}
_OTHER_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


class Predictor(Protocol):
    """Predictions for validated inputs (``LoadedModel.validate_input``'s result).

    Attributes:
        name: ``"onnx"`` or ``"native"``.
        reason: why this runtime serves the model (what was verified, or why ONNX was not).
        has_proba: whether :meth:`predict_proba` is available.
    """

    name: str
    reason: str
    has_proba: bool

    def predict(self, data: Any) -> NDArray[Any]:
        """Labels (classifiers) or values, one per row."""
        ...

    def predict_proba(self, data: Any) -> NDArray[Any]:
        """Class probabilities, one row per input row (InvalidInputError without them)."""
        ...

    def predict_both(self, data: Any) -> tuple[NDArray[Any], NDArray[Any]]:
        """Labels and probabilities together (one graph run for ONNX)."""
        ...


class NativePredictor:
    """The package's own flavor model (scikit-learn, LightGBM, onnxruntime for ONNX...)."""

    name = "native"

    def __init__(self, model: LoadedModel, reason: str) -> None:
        self.reason = reason
        self.has_proba = model.has_proba
        self._model = _flavor_model(model)

    def predict(self, data: Any) -> NDArray[Any]:
        return np.asarray(self._model.predict(data))

    def predict_proba(self, data: Any) -> NDArray[Any]:
        return np.asarray(self._model.predict_proba(data))

    def predict_both(self, data: Any) -> tuple[NDArray[Any], NDArray[Any]]:
        return self.predict(data), self.predict_proba(data)


@dataclass(frozen=True, slots=True)
class _Expected:
    """The native model's outputs on validation rows, and how to compare with them."""

    labels: NDArray[Any]
    proba: NDArray[Any] | None
    exact: bool  # labels must be identical (classifiers), else values within VALUE_TOL


class OnnxPredictor:
    """An onnxruntime session fed straight from validated DataFrames or arrays.

    A graph with one numeric input gets the whole table as one contiguous matrix (one
    ``DataFrame.to_numpy`` call); a graph with several inputs gets one ``(n, 1)`` array per
    column, by name. Outputs take the native model's shape and dtype.

    Attributes:
        route_missing: rows holding a missing value (NaN, or a null string) are predicted by
            the native model, because verification found ONNX treats them differently.
    """

    name = "onnx"

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        reason: str,
        *,
        columns: tuple[str, ...] | None,
        native: FlavorModel | None = None,
        like: _Expected | None = None,
    ) -> None:
        self.reason = reason
        self._session = session
        self._native = native
        self._like = like
        self.route_missing = False
        outputs = [node.name for node in session.get_outputs()]
        self._label = outputs[0]
        self._proba = _probability_output(outputs)
        native_proba = native.has_proba if native is not None else True
        self.has_proba = self._proba is not None and native_proba
        self._inputs = [
            (node.name, node.type, len(node.shape or ())) for node in session.get_inputs()
        ]
        self._matrix = len(self._inputs) == 1 and self._inputs[0][1] != "tensor(string)"
        missing = [name for name, _, _ in self._inputs if columns is None or name not in columns]
        if not self._matrix and missing:
            raise ConversionRefused(f"the graph takes inputs {missing} that are not columns")

    def predict(self, data: Any) -> NDArray[Any]:
        feed = self._feed(data)
        (result,) = self._run([self._label], feed)
        return self._patch(self._as_labels(result), data, feed, "predict")

    def predict_proba(self, data: Any) -> NDArray[Any]:
        proba = self._require_proba()
        feed = self._feed(data)
        (result,) = self._run([proba], feed)
        return self._patch(self._as_proba(result), data, feed, "predict_proba")

    def predict_both(self, data: Any) -> tuple[NDArray[Any], NDArray[Any]]:
        """Labels and probabilities from one run of the graph."""
        proba = self._require_proba()
        feed = self._feed(data)
        labels, probabilities = self._run([self._label, proba], feed)
        return (
            self._patch(self._as_labels(labels), data, feed, "predict"),
            self._patch(self._as_proba(probabilities), data, feed, "predict_proba"),
        )

    def _require_proba(self) -> str:
        if self._proba is None or not self.has_proba:
            raise InvalidInputError(
                "this model has no predict_proba; call predict instead", field="method"
            )
        return self._proba

    def _as_labels(self, result: NDArray[Any]) -> NDArray[Any]:
        like = self._like
        if like is not None:
            if like.labels.ndim == 1 and result.ndim == 2 and result.shape[1] == 1:
                result = result.reshape(-1)
            if like.labels.dtype.kind in "biuf" and result.dtype != like.labels.dtype:
                result = result.astype(like.labels.dtype)
        return result

    def _as_proba(self, result: NDArray[Any]) -> NDArray[Any]:
        if self._like is not None and self._like.proba is not None:
            result = result.astype(self._like.proba.dtype, copy=False)
        return result

    def _run(self, outputs: list[str], feed: dict[str, NDArray[Any]]) -> list[NDArray[Any]]:
        return [_as_array(result) for result in self._session.run(outputs, feed)]

    def _patch(
        self, result: NDArray[Any], data: Any, feed: dict[str, NDArray[Any]], method: str
    ) -> NDArray[Any]:
        """``result`` with the rows that hold missing values predicted natively, when ONNX
        was found to treat those differently (found in the feed: NaN, or "" for a string)."""
        if not self.route_missing or self._native is None:
            return result
        missing: NDArray[np.bool_] | None = None
        for array in feed.values():
            kind = array.dtype.kind
            holes = np.isnan(array) if kind == "f" else array == "" if kind == "U" else None
            if holes is not None and holes.any():  # the common case ends at this scalar test
                in_rows = holes.reshape(len(array), -1).any(axis=1)
                missing = in_rows if missing is None else missing | in_rows
        if missing is not None:
            rows = np.flatnonzero(missing)
            subset = data.iloc[rows] if isinstance(data, pd.DataFrame) else data[rows]
            result[rows] = getattr(self._native, method)(subset)
        return result

    def _feed(self, data: Any) -> dict[str, NDArray[Any]]:
        if self._matrix:
            name, kind, _ = self._inputs[0]
            return {name: _matrix(data, kind)}
        if not isinstance(data, pd.DataFrame):
            raise InvalidInputError(
                f"the ONNX graph takes one input per column; got {type(data).__name__}",
                field="input",
            )
        return {name: _column(data[name], kind, rank) for name, kind, rank in self._inputs}


def _as_array(result: Any) -> NDArray[Any]:
    if isinstance(result, list):  # a zipmap output: one {class: probability} per row
        keys = list(result[0]) if result else []
        return np.asarray([[row[key] for key in keys] for row in result])
    return np.asarray(result)


def _matrix(data: Any, kind: str) -> NDArray[Any]:
    floating = _FLOATS.get(kind)
    if floating is not None:
        if isinstance(data, pd.DataFrame):
            return np.ascontiguousarray(data.to_numpy(floating, na_value=np.nan))
        return np.ascontiguousarray(data, dtype=floating)
    dtype = _OTHER_TYPES.get(kind)
    array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    return np.ascontiguousarray(array if dtype is None else array.astype(dtype))


def _column(series: pd.Series[Any], kind: str, rank: int) -> NDArray[Any]:
    if kind == "tensor(string)":
        values = series.to_numpy(object)
        # No ONNX string is null: "" stands in, and _patch predicts such rows natively.
        array = np.where(pd.isna(values), "", values).astype(str)
    elif kind in _FLOATS:
        array = series.to_numpy(_FLOATS[kind], na_value=np.nan)
    else:
        array = series.to_numpy(_OTHER_TYPES.get(kind))
    return array.reshape(-1, 1) if rank == 2 else array


def _probability_output(names: list[str]) -> str | None:
    if "probabilities" in names:
        return "probabilities"
    return next((name for name in names[1:] if "prob" in name.lower()), None)


# ---- choosing the runtime ---------------------------------------------------------------------


def prepare_predictor(
    model: LoadedModel, runtime: str = "auto", cache_dir: Path | None = None
) -> Predictor:
    """The predictor that serves ``model`` under ``runtime``.

    Args:
        model: a loaded package.
        runtime: ``"auto"`` (ONNX when a verified conversion exists, else native),
            ``"native"``, or ``"onnx"`` (ONNX or an error).
        cache_dir: where converted graphs are kept between loads (beside the store: packages
            are sealed); None converts every time.

    Returns:
        A :class:`Predictor`; its ``reason`` says what was verified or why ONNX was not used.

    Raises:
        InvalidInputError: (``field="runtime"``) an unknown runtime, or ``"onnx"`` for a model
            that cannot be converted or whose conversion does not match.
    """
    if runtime not in RUNTIMES:
        raise InvalidInputError(
            f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}", field="runtime"
        )
    if runtime == "native":
        return NativePredictor(model, "the native runtime was asked for")
    try:
        predictor = _onnx_predictor(model, cache_dir)
    except ConversionRefused as exc:
        if runtime == "onnx":
            raise InvalidInputError(
                f"{_describe(model)} cannot be served with onnxruntime: {exc.reason}",
                field="runtime",
            ) from None
        logger.warning("%s is served natively: %s", _describe(model), exc.reason)
        return NativePredictor(model, exc.reason)
    logger.info("%s is served with onnxruntime: %s", _describe(model), predictor.reason)
    return predictor


def _onnx_predictor(model: LoadedModel, cache_dir: Path | None) -> OnnxPredictor:
    _require("onnx", "onnxruntime")
    if model.flavor == "onnx":
        return _packaged_graph(model)
    if model.flavor in _BOOSTERS:
        library = _BOOSTERS[model.flavor]
        if importlib.util.find_spec("onnxmltools") is None:
            raise ConversionRefused(
                f"converting {library} models to ONNX needs onnxmltools, which is not installed"
            )
        raise ConversionRefused(f"modelkeep does not convert {library} models to ONNX yet")
    if model.flavor != "sklearn":
        raise ConversionRefused(f"models of flavor {model.flavor!r} have no ONNX converter")
    _require("skl2onnx")
    return _converted(model, cache_dir)


def _require(*modules: str) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConversionRefused(
                f"{module} is not installed (pip install 'modelkeep[onnx]')"
            ) from None


def _packaged_graph(model: LoadedModel) -> OnnxPredictor:
    """A session of our own over the package's graph (one thread, full optimisation)."""
    path, name = package_file(model.path, model.manifest.flavor_options, "model.onnx")
    data = path.read_bytes()
    # Read again after load-time verification: it must still be the file the digest covers.
    if hashlib.sha256(data).hexdigest() != model.manifest.files.get(name):
        raise ConversionRefused(f"{name} changed after the package was verified")
    session = make_session(data)
    reason = "the package is an ONNX model; onnxruntime runs its graph as it is"
    return OnnxPredictor(session, reason, columns=_columns(model))


def _converted(model: LoadedModel, cache_dir: Path | None) -> OnnxPredictor:
    native = _flavor_model(model)
    sample = validation_sample(model)
    expected = _expected(native, sample.complete, what="the validation sample")
    path = None if cache_dir is None else cache_path(cache_dir, model.root_digest)
    note = ""
    cached = None if path is None else read_cached(path)
    if cached is not None:
        try:
            return _verified(
                cached, model, native, sample, expected, "the converted graph came from the cache"
            )
        except ConversionRefused as exc:
            note = f"the cached graph failed verification and was converted again ({exc.reason})"
    assert model.signature is not None  # validation_sample refused a package without one
    data = convert_estimator(native.raw, input_types(model.signature, native.raw))
    predictor = _verified(data, model, native, sample, expected, note)
    if path is not None:
        _store(path, data)
    return predictor


def _verified(
    data: bytes,
    model: LoadedModel,
    native: FlavorModel,
    sample: ValidationSample,
    expected: _Expected,
    note: str,
) -> OnnxPredictor:
    """A predictor over the graph ``data``, once its outputs match ``expected``."""
    session = make_session(data)
    plain = OnnxPredictor(session, "", columns=_columns(model), native=native, like=expected)
    problem = _mismatch(plain, sample.complete, expected)
    if problem is not None:
        raise ConversionRefused(f"the ONNX graph does not match the native model: {problem}")
    reason = (
        f"ONNX outputs matched the native model on {len(sample)} rows (the input example "
        f"and {SAMPLE_ROWS} rows drawn from it with a fixed seed)"
    )
    route = False
    if sample.with_nulls is not None:
        missing = _missing_problem(plain, native, sample.with_nulls)
        route = missing is not None
        if route:
            reason += f"; rows with missing values go to the native model: {missing}"
        else:
            reason += f"; and on {len(sample.with_nulls)} rows with missing values"
    plain.reason, plain.route_missing = f"{reason}; {note}" if note else reason, route
    return plain


def _missing_problem(predictor: OnnxPredictor, native: FlavorModel, rows: Any) -> str | None:
    try:
        expected = _expected(native, rows, what="rows with missing values")
    except ConversionRefused as exc:
        return exc.reason
    return _mismatch(predictor, rows, expected)


def _expected(native: FlavorModel, data: Any, *, what: str) -> _Expected:
    from sklearn.base import is_classifier

    try:
        labels = np.asarray(native.predict(data))
        proba = np.asarray(native.predict_proba(data)) if native.has_proba else None
    except Exception as exc:  # whatever the model raises, the rows cannot be compared
        raise ConversionRefused(
            f"the native model fails on {what}: {describe_error(exc)}"
        ) from None
    exact = is_classifier(native.raw) or labels.dtype.kind not in "fc"
    return _Expected(labels, proba, exact)


def _mismatch(predictor: OnnxPredictor, data: Any, expected: _Expected) -> str | None:
    try:
        labels = predictor.predict(data)
        proba = None if expected.proba is None else predictor.predict_proba(data)
    except Exception as exc:  # onnxruntime's errors share no base class below Exception
        return f"onnxruntime fails on the validation sample: {describe_error(exc)}"
    what, tolerance = ("labels", None) if expected.exact else ("predictions", VALUE_TOL)
    problem = compare_outputs(expected.labels, labels, what=what, tolerance=tolerance)
    if problem is None and expected.proba is not None:
        problem = compare_outputs(
            expected.proba, proba, what="probabilities", tolerance=PROBA_ATOL
        )
    return problem


def _store(path: Path, data: bytes) -> None:
    try:
        write_cached(path, data)
    except OSError as exc:  # a read-only cache costs a conversion per load, nothing more
        logger.warning("cannot cache the ONNX conversion at %s: %s", path, exc)


def _columns(model: LoadedModel) -> tuple[str, ...] | None:
    signature = model.signature
    if signature is None or signature.input_tensor is not None:
        return None
    return tuple(spec.name for spec in signature.inputs)


def _flavor_model(model: LoadedModel) -> FlavorModel:
    # LoadedModel.predict validates again; the server has validated each batch already.
    return model.flavor_model


def _describe(model: LoadedModel) -> str:
    version = model.version
    if version is not None:
        return f"model {version.name!r} version {version.version}"
    return model.uri or str(model.path)
