"""Labels from a file, joined to the inference log by request id: the alternative to
``POST /feedback`` when ground truth arrives in bulk (a nightly export, a warehouse query).

The file is CSV or Parquet with a ``request_id`` column and a ``label`` column (other columns
are ignored). A request id that appears more than once keeps its last row; labels from the
file take precedence over ``/feedback`` for the same request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modelkeep.exceptions import InvalidInputError

__all__ = ["read_labels"]

_REQUIRED = ("request_id", "label")


def read_labels(source: str | Path | pd.DataFrame) -> pd.Series[Any]:
    """The labels of ``source`` as a Series indexed by request id (text).

    Args:
        source: a ``.csv`` / ``.parquet`` file, or a DataFrame with the same columns.

    Raises:
        InvalidInputError: (``field="labels"``) a missing or unreadable file, or a missing
            ``request_id`` / ``label`` column.
    """
    frame = source if isinstance(source, pd.DataFrame) else _read(Path(source))
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"labels: needs the columns request_id and label (missing: {', '.join(missing)}; "
            f"found: {', '.join(map(str, frame.columns[:20]))})",
            field="labels",
        )
    given = frame.loc[frame["request_id"].notna() & frame["label"].notna(), list(_REQUIRED)]
    given = given.assign(request_id=given["request_id"].astype(str))
    return given.drop_duplicates("request_id", keep="last").set_index("request_id")["label"]


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidInputError(f"labels file not found: {path}", field="labels")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            # request ids stay text: "007" must not become 7
            return pd.read_csv(path, dtype={"request_id": str})
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"labels: cannot read {path}: {exc}", field="labels") from None
    raise InvalidInputError(f"labels: {path.name}: use a .csv or .parquet file", field="labels")
