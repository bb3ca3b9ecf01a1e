"""Describe a dataset by content: sha256 digest, schema, row count, source."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelkeep.entities import DatasetInput
from modelkeep.exceptions import InvalidInputError

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _frame_digest(frame: Any) -> str:
    import pandas as pd

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update("\x1f".join(map(str, frame.dtypes)).encode())
    try:
        rows = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts from JSON): hash their JSON text
        rows = pd.util.hash_pandas_object(
            frame.apply(lambda col: col.map(_cell_text) if col.dtype == object else col),
            index=False,
        )
    h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def _cell_text(value: Any) -> Any:
    if isinstance(value, list | dict | tuple | set):
        items = sorted(value, key=repr) if isinstance(value, set) else value
        return json.dumps(items, sort_keys=True, default=repr)
    return value


def _describe_frame(frame: Any, name: str, context: str, source: str) -> DatasetInput:
    schema = {str(col): str(dtype) for col, dtype in frame.dtypes.items()}
    return DatasetInput(name, _frame_digest(frame), source, schema, int(len(frame)), context)


def _describe_file(path: Path, name: str, context: str) -> DatasetInput:
    if not path.is_file():
        raise InvalidInputError(f"Dataset file not found: {path}", field="data")
    schema: dict[str, str] = {}
    rows: int | None = None
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path)
        schema = {f.name: str(f.type) for f in meta}
        rows = int(pq.ParquetFile(path).metadata.num_rows)
    elif suffix in (".csv", ".tsv"):
        import pandas as pd

        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        schema = {str(c): str(t) for c, t in frame.dtypes.items()}
        rows = int(len(frame))
    return DatasetInput(name, file_digest(path), str(path.resolve()), schema, rows, context)


def describe_dataset(data: Any, name: str = "dataset", context: str = "") -> DatasetInput:
    """A :class:`DatasetInput` for a pandas/polars DataFrame, numpy array, or file path.

    Files are digested by their bytes; frames by column names, dtypes and row hashes, so the
    same data gives the same digest whatever the file it came from was called.
    """
    if isinstance(data, str | Path):
        return _describe_file(Path(data), name, context)
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        return _describe_frame(data.to_pandas(), name, context, "polars.DataFrame")
    if module == "pandas":
        import pandas as pd

        frame = data.to_frame() if isinstance(data, pd.Series) else data
        return _describe_frame(frame, name, context, "pandas.DataFrame")
    if module == "numpy":
        import pandas as pd

        array = data if data.ndim > 1 else data.reshape(-1, 1)
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        return _describe_frame(frame, name, context, "numpy.ndarray")
    raise InvalidInputError(
        f"Cannot log a dataset of type {type(data).__name__}: pass a pandas or polars "
        "DataFrame, a numpy array, or a file path",
        field="data",
    )
