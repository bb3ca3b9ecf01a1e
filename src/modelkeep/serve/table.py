"""The rows of one scoring request, as the request parsers produce them.

A :class:`Table` keeps row-major Python values (what JSON gives) rather than a DataFrame: the
server merges the tables of many concurrent requests and builds one DataFrame per batch, which
costs far less than one DataFrame per request and a concat. CSV and Parquet bodies arrive as
DataFrames and are turned into a table with :meth:`Table.from_frame`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelkeep.exceptions import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from modelkeep.registry.signature import ModelSignature

__all__ = ["Table", "merge_rows"]


@dataclass(frozen=True, slots=True)
class Table:
    """Input rows: column names (or None when the request gave none) and the rows.

    Attributes:
        columns: the column names in row order, or None for positional rows (a list of lists
            under ``instances``, one 2-D v2 tensor): those take the signature's input order.
        rows: one list of JSON scalars (None for null) per row, each as long as ``columns``.
        frame: the DataFrame the rows came from, for CSV and Parquet bodies (kept so its
            dtypes survive); None for JSON bodies.
    """

    columns: tuple[str, ...] | None
    rows: list[list[Any]]
    frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Table:
        """A table over ``frame`` (column names become strings)."""
        columns = tuple(str(name) for name in frame.columns)
        rows = frame.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[arg-type]
        return cls(columns, rows, frame)

    def names_for(self, signature: ModelSignature | None) -> tuple[str, ...] | None:
        """The column names to build a DataFrame with: the table's own, else the signature's
        input names (None without a column signature: the rows go to the model as an array).

        Raises:
            InvalidInputError: positional rows whose width differs from the signature's.
        """
        if self.columns is not None:
            return self.columns
        if signature is None or signature.input_kind != "dataframe":
            return None  # a tensor model: the rows go as one array
        names = tuple(column.name for column in signature.inputs)
        for index, row in enumerate(self.rows):
            if len(row) != len(names):
                raise InvalidInputError(
                    f"row {index} has {len(row)} values; the model takes {len(names)} "
                    f"({', '.join(names)})",
                    field=f"row {index}",
                )
        return names


def merge_rows(tables: Sequence[Table]) -> list[list[Any]]:
    """The rows of several tables with the same columns, in order (one list, no copies of the
    rows themselves)."""
    merged: list[list[Any]] = []
    for table in tables:
        merged.extend(table.rows)
    return merged
