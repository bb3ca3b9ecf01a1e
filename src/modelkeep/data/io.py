"""Reading tables: CSV, TSV, Parquet and JSON files, pandas and polars DataFrames, as pandas.

polars is imported by no one here: a polars frame is recognised by its module name and
converted with its own ``to_pandas``, so polars stays optional for users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modelkeep.exceptions import InvalidInputError

__all__ = ["SUFFIXES", "read_table"]

SUFFIXES = (".csv", ".tsv", ".parquet", ".json")
"""File suffixes :func:`read_table` reads (case-insensitive)."""


def read_table(source: Any) -> pd.DataFrame:
    """Read a table as a pandas DataFrame.

    Args:
        source: a path (``str`` or :class:`~pathlib.Path`) to a ``.csv``, ``.tsv``,
            ``.parquet`` or ``.json`` file (JSON as pandas writes it: records, columns...),
            a pandas DataFrame (returned as is) or Series (as a one-column frame), or a
            polars DataFrame or LazyFrame (converted with ``to_pandas``).

    Returns:
        The table as a pandas DataFrame.

    Raises:
        InvalidInputError: (``field="data"``) the file is missing, has an unknown suffix or
            cannot be parsed, or ``source`` is not a table.

    Example:
        >>> import pandas as pd
        >>> read_table(pd.DataFrame({"a": [1, 2]})).shape
        (2, 1)
    """
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, pd.Series):
        return source.to_frame()
    if isinstance(source, str | Path):
        return _read_file(Path(source))
    if type(source).__module__.split(".")[0] == "polars":
        frame = source.collect() if hasattr(source, "collect") else source
        converted: pd.DataFrame = frame.to_pandas()
        return converted
    raise InvalidInputError(
        f"cannot read a table from a {type(source).__name__}: pass a file path "
        f"({', '.join(SUFFIXES)}) or a pandas or polars DataFrame",
        field="data",
    )


def _read_file(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInputError(
            f"cannot read {path.name}: use a {', '.join(SUFFIXES)} file", field="data"
        )
    if not path.is_file():
        raise InvalidInputError(f"data file not found: {path}", field="data")
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        if suffix == ".parquet":
            return pd.read_parquet(path)
        frame = pd.read_json(path)
    except (ValueError, pd.errors.ParserError, ImportError, UnicodeDecodeError) as exc:
        # EmptyDataError is a ValueError; pyarrow's ArrowInvalid is one too.
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise InvalidInputError(f"cannot read {path.name}: {first}", field="data") from None
    if isinstance(frame, pd.Series):  # a JSON list of scalars
        return frame.to_frame()
    return frame
