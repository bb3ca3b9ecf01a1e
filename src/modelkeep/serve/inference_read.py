"""Reading the inference log back: predictions, feedback, and the two joined by request id.

The files can also be read directly (``pandas.read_parquet(root / "predictions")``, polars'
``read_parquet(..., hive_partitioning=True)``, DuckDB's ``read_parquet(..., hive_partitioning
= true)``); these functions add what a plain reader cannot: the schema of *all* files of a model
(a column whose type widened, say from int to float, or an input a later version added),
pruning of hour folders outside a time range, rows in time order, and the feedback join.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from modelkeep.exceptions import NotFoundError
from modelkeep.serve.inference_files import (
    FEEDBACK,
    PREDICTIONS,
    TIMESTAMP,
    hour_dirs,
    hour_files,
    list_files,
    model_dir,
)
from modelkeep.serve.inference_tables import PROBA_TYPE

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "join_feedback",
    "logged_models",
    "read_feedback",
    "read_inference_log",
    "read_inference_table",
    "tail_inference_table",
]

_PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("timestamp", TIMESTAMP),
        ("model", pa.string()),
        ("version", pa.string()),
        ("variant", pa.string()),
        ("latency_ms", pa.float64()),
        ("prediction", pa.null()),
        ("proba", PROBA_TYPE),
    ]
)
_FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("label", pa.null()),
        ("timestamp", TIMESTAMP),
        ("model", pa.string()),
    ]
)


def logged_models(root: Path) -> list[str]:
    """Names of the models that have a prediction log under ``root``, sorted.

    A name too long for a folder shows in its shortened form (prefix ``~`` digest).
    """
    folder = Path(root) / PREDICTIONS
    if not folder.is_dir():
        return []
    names = [
        unquote(entry.name.removeprefix("model="))
        for entry in folder.iterdir()
        if entry.is_dir() and entry.name.startswith("model=")
    ]
    return sorted(names)


def _prediction_dir(root: Path, model: str) -> Path:
    directory = model_dir(root, PREDICTIONS, model)
    if not directory.is_dir():
        known = logged_models(root)
        hint = f" (models with a log: {', '.join(known)})" if known else ""
        raise NotFoundError(f"no inference log for model {model!r} under {root}{hint}")
    return directory


def _unified_schema(files: list[Path]) -> pa.Schema:
    """One schema for all files: types promoted where Arrow can (int -> float, null -> any),
    text where it cannot (a column written as numbers in some files and text in others)."""
    paths = [str(path) for path in files]
    factory = ds.FileSystemDatasetFactory(pafs.LocalFileSystem(), paths, ds.ParquetFileFormat())
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return factory.inspect(promote_options="permissive", fragments=None)
    # Arrow could not promote (numbers in some files, text in others): decide column by column.
    types: dict[str, list[pa.DataType]] = {}
    for path in files:
        for field in pq.read_schema(path):
            types.setdefault(field.name, []).append(field.type)
    fields = []
    for name, found in types.items():
        try:
            merged = pa.unify_schemas(
                [pa.schema([(name, kind)]) for kind in found], promote_options="permissive"
            )
            fields.append(merged.field(name))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def _time_filter(since_ms: int | None, until_ms: int | None) -> ds.Expression | None:
    expression = None
    if since_ms is not None:
        expression = ds.field("timestamp") >= pa.scalar(since_ms, TIMESTAMP)
    if until_ms is not None:
        upper = ds.field("timestamp") < pa.scalar(until_ms, TIMESTAMP)
        expression = upper if expression is None else expression & upper
    return expression


def _read_files(
    files: list[Path], model: str, empty: pa.Schema, where: ds.Expression | None = None
) -> pa.Table:
    """The rows of ``files`` in time order (ties keep file order), with a ``model`` column."""
    if not files:
        return empty.empty_table()
    dataset = ds.dataset([str(path) for path in files], schema=_unified_schema(files))
    table = dataset.to_table(filter=where)
    table = table.take(pc.sort_indices(table, [("timestamp", "ascending")]))
    column = pa.repeat(pa.scalar(model, pa.string()), table.num_rows)
    position = empty.get_field_index("model")
    return table.add_column(min(position, table.num_columns), "model", column)


def read_inference_table(
    root: Path, model: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> pa.Table:
    """The prediction rows of ``model`` with ``since_ms <= timestamp < until_ms`` (epoch ms,
    either bound optional), oldest first, as an Arrow table.

    Raises:
        NotFoundError: ``model`` has no prediction log under ``root``.
    """
    directory = _prediction_dir(Path(root), model)
    files = list_files(directory, since_ms, until_ms)
    return _read_files(files, model, _PREDICTION_SCHEMA, _time_filter(since_ms, until_ms))


def read_inference_log(
    root: Path, model: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> pd.DataFrame:
    """:func:`read_inference_table` as a DataFrame (``timestamp`` is ``datetime64[ms, UTC]``;
    ``proba`` holds arrays, or None).

    Example:
        >>> frame = read_inference_log(Path(".modelkeep/inference"), "churn")  # doctest: +SKIP
    """
    table = read_inference_table(root, model, since_ms=since_ms, until_ms=until_ms)
    frame: pd.DataFrame = table.to_pandas()
    return frame


def tail_inference_table(root: Path, model: str, rows: int) -> pa.Table:
    """The last ``rows`` prediction rows of ``model``, oldest first, as an Arrow table; reads
    only the newest hour folders that hold them.

    Raises:
        NotFoundError: ``model`` has no prediction log under ``root``.
    """
    directory = _prediction_dir(Path(root), model)
    chosen: list[Path] = []
    found = 0
    for _, folder in reversed(hour_dirs(directory)):
        files = hour_files(folder)
        chosen = files + chosen
        found += sum(pq.read_metadata(path).num_rows for path in files)
        if found >= rows:
            break
    table = _read_files(chosen, model, _PREDICTION_SCHEMA)
    return table.slice(max(0, table.num_rows - rows))


def read_feedback(root: Path, model: str) -> pd.DataFrame:
    """Every label recorded for ``model``'s requests (request_id, label, timestamp, model),
    oldest first; empty when none has arrived."""
    files = list_files(model_dir(Path(root), FEEDBACK, model))
    frame: pd.DataFrame = _read_files(files, model, _FEEDBACK_SCHEMA).to_pandas()
    return frame


def join_feedback(
    root: Path, model: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> pd.DataFrame:
    """The predictions of :func:`read_inference_log` with a ``label`` column: the latest label
    recorded for the row's request id, null (None, NaN or <NA>) where none has arrived.

    Integer and boolean labels keep their kind (``Int64``, ``boolean``) despite the gaps.

    Raises:
        NotFoundError: ``model`` has no prediction log under ``root``.
    """
    import pandas as pd

    frame = read_inference_log(root, model, since_ms=since_ms, until_ms=until_ms)
    feedback = read_feedback(root, model)
    if feedback.empty:
        frame["label"] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return frame
    latest = feedback.drop_duplicates("request_id", keep="last").set_index("request_id")["label"]
    if latest.dtype.kind in "iu":
        latest = latest.astype("Int64")
    elif latest.dtype.kind == "b":
        latest = latest.astype("boolean")
    labels = latest.reindex(frame["request_id"].to_numpy())
    frame["label"] = pd.Series(labels.array, index=frame.index)
    return frame
