""":class:`Explanation`: per-row attributions on the original columns, with their check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Explanation", "json_value"]


@dataclass(frozen=True)
class Explanation:
    """Local attributions of some rows.

    ``base_values[i] + attributions.iloc[i].sum()`` equals ``outputs[i]``, the model's output
    for row ``i`` in ``output_space``, up to ``additivity_error`` (the largest difference
    over the rows: below 1e-6 for the exact methods, ~1e-12 for float64 models; for
    ``kernel`` its solver's rounding, since the split between columns, not the sum, is
    what KernelSHAP estimates).

    Attributes:
        attributions: one row per explained row, one column per original input column.
        base_values: per row, the expected output over the background (for the class explained
            in that row).
        outputs: per row, the model's output in ``output_space``.
        method: ``tree`` (TreeSHAP), ``linear`` (closed form) or ``kernel`` (KernelSHAP).
        output_space: ``probability``, ``log_odds``, ``margin`` (a multiclass model's raw
            score of the class) or ``prediction`` (a regressor's output).
        explained_class: per row, the class explained (classifiers: the positive class of a
            binary model, the predicted class of a multiclass one); None for regressors.
        additivity_error: ``max |base + sum(attributions) - output|`` over the rows.
        background: where the background rows came from: ``given``, ``reference`` (the
            training run's reference sample) or ``rows`` (the explained rows themselves).
        background_rows: how many background rows were used (after sampling/summarising).
        model_uri: the model explained ("" when explained from a loaded model).
        version: its registered version, when known.

    Example:
        >>> result = explain("models:/churn@champion", rows)  # doctest: +SKIP
        >>> result.attributions.iloc[0].sort_values()  # doctest: +SKIP
    """

    attributions: pd.DataFrame
    base_values: NDArray[np.float64]
    outputs: NDArray[np.float64]
    method: str
    output_space: str
    explained_class: list[Any] | None
    additivity_error: float
    background: str = "rows"
    background_rows: int = 0
    model_uri: str = ""
    version: str | None = None

    @property
    def columns(self) -> list[str]:
        """The original input columns, in the model's order."""
        return [str(name) for name in self.attributions.columns]

    def to_frame(self) -> pd.DataFrame:
        """The attributions with ``base_value``, ``output`` and (classifiers)
        ``explained_class`` columns after them (one row per explained row; an input column
        of the same name pushes these to ``_base_value``...)."""
        frame = self.attributions.copy()
        extra: dict[str, Any] = {"base_value": self.base_values, "output": self.outputs}
        if self.explained_class is not None:
            extra["explained_class"] = self.explained_class
        for name, values in extra.items():
            while name in frame.columns:
                name = f"_{name}"
            frame[name] = values
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``attributions`` as one ``{column: value}`` record per row; NaN and
        infinities become None."""
        records = [
            {str(name): json_value(value) for name, value in zip(self.columns, row, strict=True)}
            for row in self.attributions.to_numpy(dtype=float)
        ]
        return {
            "model_uri": self.model_uri,
            "version": self.version,
            "method": self.method,
            "output_space": self.output_space,
            "columns": self.columns,
            "attributions": records,
            "base_values": [json_value(v) for v in self.base_values],
            "outputs": [json_value(v) for v in self.outputs],
            "explained_class": (
                None
                if self.explained_class is None
                else [json_value(v) for v in self.explained_class]
            ),
            "additivity_error": json_value(self.additivity_error),
            "background": {"source": self.background, "rows": self.background_rows},
        }


def json_value(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars unwrapped, NaN and infinities as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
