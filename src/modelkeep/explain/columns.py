"""Which original input column each column of a preprocessor's output comes from.

Attributions computed on the transformed matrix a model's final estimator sees (scaled
numbers, one-hot columns...) are reported on the columns the caller sent by summing, per
original column, the attributions of the transformed columns that come from it. For that each
transformed column must come from exactly one original column; :func:`source_columns` works
that out from the fitted transformers:

- a ``ColumnTransformer``: branch by branch, over the columns each branch was given;
- a ``Pipeline`` of transformers: step by step, composing the maps;
- any other transformer: from ``get_feature_names_out``: an output named like an input comes
  from it (one-to-one steps: scalers, imputers, ordinal encoding), ``<input>_<category>``
  from ``<input>`` (one-hot encoding; the longest matching input wins).

A transformer that mixes columns (PCA, polynomial features) or names its outputs otherwise
raises :class:`UnmappableError`; ``method="auto"`` then explains the model as a black box
on the original columns instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["UnmappableError", "aggregation_matrix", "source_columns"]


class UnmappableError(Exception):
    """The transformed columns cannot each be traced back to one original column."""


def source_columns(transformer: Any, input_names: Sequence[str]) -> list[int]:
    """For each output column of the fitted ``transformer``, the index in ``input_names`` of
    the original column it comes from.

    Raises:
        UnmappableError: an output comes from several inputs, or its source cannot be told.
    """
    _, sources = _trace(transformer, [str(name) for name in input_names])
    return sources


def aggregation_matrix(sources: Sequence[int], n_inputs: int) -> NDArray[np.float64]:
    """The 0/1 matrix (outputs x inputs) that sums transformed attributions per input."""
    matrix = np.zeros((len(sources), n_inputs))
    matrix[np.arange(len(sources)), np.asarray(sources, dtype=int)] = 1.0
    return matrix


def _trace(transformer: Any, names: list[str]) -> tuple[list[str], list[int]]:
    """(output names, source index per output) of ``transformer`` given input ``names``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if transformer is None or (isinstance(transformer, str) and transformer == "passthrough"):
        return list(names), list(range(len(names)))
    if isinstance(transformer, ColumnTransformer):
        return _trace_columns(transformer, names)
    if isinstance(transformer, Pipeline):
        return _trace_steps(transformer, names)
    return _trace_by_name(transformer, names)


def _trace_steps(pipeline: Any, names: list[str]) -> tuple[list[str], list[int]]:
    current, sources = list(names), list(range(len(names)))
    for _, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step in ("passthrough", "drop")):
            continue
        current, step_sources = _trace(step, current)
        sources = [sources[index] for index in step_sources]
    return current, sources


def _trace_columns(transformer: Any, names: list[str]) -> tuple[list[str], list[int]]:
    out_names: list[str] = []
    sources: list[int] = []
    for branch, fitted, columns in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        indices = _column_indices(columns, names, branch)
        if not indices:
            continue
        branch_names, branch_sources = _trace(fitted, [names[i] for i in indices])
        out_names += [f"{branch}__{name}" for name in branch_names]
        sources += [indices[index] for index in branch_sources]
    return out_names, sources


def _column_indices(columns: Any, names: list[str], branch: str) -> list[int]:
    """The positions in ``names`` of a ColumnTransformer branch's columns."""
    if isinstance(columns, str | int):
        columns = [columns]
    if isinstance(columns, slice):
        return list(range(len(names)))[columns]
    values = list(np.asarray(columns).tolist()) if not isinstance(columns, list) else columns
    if values and all(isinstance(value, bool) for value in values):
        return [index for index, keep in enumerate(values) if keep]
    indices: list[int] = []
    for value in values:
        if isinstance(value, str) and value in names:
            indices.append(names.index(value))
        elif isinstance(value, int) and 0 <= value < len(names):
            indices.append(value)
        else:
            raise UnmappableError(f"branch {branch!r}: cannot locate column {value!r}")
    return indices


def _trace_one_hot(transformer: Any, names: list[str]) -> tuple[list[str], list[int]] | None:
    """A fitted one-hot encoder's outputs traced by position (``categories_`` per input, less
    the dropped ones), not by name: an output ``color_red`` may otherwise be taken for an
    input called ``color_red``. None for other transformers."""
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(transformer, OneHotEncoder):
        return None
    out_names = [str(name) for name in transformer.get_feature_names_out(names)]
    counts = [len(categories) for categories in transformer.categories_]
    dropped = getattr(transformer, "drop_idx_", None)
    if dropped is not None:
        counts = [n - (d is not None) for n, d in zip(counts, dropped, strict=True)]
    infrequent = getattr(transformer, "_infrequent_indices", None) or [None] * len(counts)
    for index, rare in enumerate(infrequent):
        if rare is not None and len(rare):
            counts[index] -= len(rare) - 1  # the rare categories share one output column
    sources = [index for index, count in enumerate(counts) for _ in range(count)]
    if len(sources) != len(out_names):
        return None
    return out_names, sources


def _trace_by_name(transformer: Any, names: list[str]) -> tuple[list[str], list[int]]:
    traced = _trace_one_hot(transformer, names)
    if traced is not None:
        return traced
    namer = getattr(transformer, "get_feature_names_out", None)
    if namer is None:
        raise UnmappableError(f"{type(transformer).__name__} does not name its output columns")
    try:
        out_names = [str(name) for name in namer(names)]
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnmappableError(f"{type(transformer).__name__}: {exc}") from None
    position = {name: index for index, name in enumerate(names)}
    by_length = sorted(range(len(names)), key=lambda index: -len(names[index]))
    sources: list[int] = []
    for out in out_names:
        if out in position:
            sources.append(position[out])
            continue
        match = next((i for i in by_length if out.startswith(names[i] + "_")), None)
        if match is None:
            raise UnmappableError(
                f"{type(transformer).__name__}: output column {out!r} does not come from one "
                "input column"
            )
        sources.append(match)
    return out_names, sources
