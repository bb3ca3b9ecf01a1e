"""Batch scoring: a CSV or Parquet file in, a file of predictions out, in bounded memory.

:func:`score_file` streams the input chunk by chunk (pandas' chunked CSV reader, pyarrow's
Parquet batch reader), checks each chunk against the model's signature, predicts, and appends
the chunk's predictions to the output (Parquet row groups, or CSV). At most one chunk of input
and its predictions are in memory at a time, whatever the size of the file.

The output has one id column (the input's ``id_column`` copied through, else ``row``: the
0-based row number) then ``prediction`` and, with ``proba``, one ``proba_<class>`` column per
class. It is written to a hidden temporary file in the output's folder and renamed into place
when every row is scored, so a failure never leaves a partial output behind.

Batch scoring creates no run: its time, CPU, peak memory and energy
(:class:`modelkeep.energy.EnergyMeter`) come back in :attr:`ScoreSummary.energy` (and in
``modelkeep predict``'s output). The meter uses codecarbon only when this process has already
probed the hardware (``codecarbon="if-ready"``): a one-shot command neither waits for the
probe nor loads codecarbon into the bounded memory it promises; otherwise the energy is
modelkeep's estimate, labelled ``estimate``.

>>> summary = score_file(model, Path("customers.parquet"), Path("scores.parquet"),
...                      id_column="customer_id", proba=True)  # doctest: +SKIP
>>> summary.rows, summary.chunks  # doctest: +SKIP
(1000000, 10)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelkeep.energy import EnergyMeter, EnergyUse
from modelkeep.exceptions import InputSchemaError, InvalidInputError, ModelkeepError
from modelkeep.serve.batch_io import (
    INPUT_SUFFIXES,
    OUTPUT_SUFFIXES,
    AtomicOutput,
    Chunk,
    first_line,
    has_suffix,
    read_chunks,
)

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature

__all__ = ["ScoreSummary", "score_file"]


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_file` did.

    Attributes:
        rows: rows scored (and written).
        chunks: chunks the input was read in.
        output: the predictions file.
        seconds: wall time, reading and writing included.
        energy: time, CPU, peak memory, energy and CO2 of the whole run.
    """

    rows: int
    chunks: int
    output: Path
    seconds: float
    energy: EnergyUse | None = None

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``output`` as a string)."""
        return {
            "rows": self.rows,
            "chunks": self.chunks,
            "output": str(self.output),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "energy": self.energy.to_dict() if self.energy is not None else None,
        }


def score_file(
    model: LoadedModel,
    source: Path,
    output: Path,
    *,
    chunk_size: int = 100_000,
    id_column: str | None = None,
    proba: bool = False,
    progress: bool = False,
) -> ScoreSummary:
    """Score every row of a CSV or Parquet file and write the predictions, chunk by chunk.

    Args:
        model: the loaded model; each chunk is checked against its signature.
        source: ``.csv`` (also ``.csv.gz``, ``.bz2``, ``.xz``, ``.zst``), ``.parquet`` or
            ``.pq``. Every column but ``id_column`` goes to the model.
        output: ``.parquet``/``.pq`` (written one row group per chunk) or ``.csv``.
        chunk_size: rows per chunk; memory grows with it, not with the file.
        id_column: an input column copied to the output (instead of a ``row`` number).
        proba: add one ``proba_<class>`` column per class.
        progress: draw a Rich progress bar on stderr (rows done, of the total when known).

    Returns:
        The rows and chunks scored, the output path and the time taken.

    Raises:
        InputSchemaError: a chunk does not fit the signature; the message names the file, the
            chunk's row range and each problem, ``field`` the column to blame.
        InvalidInputError: an unreadable input, a bad path, suffix, ``chunk_size`` or
            ``id_column``, an input with no rows, or a model that fails on a chunk (the row
            range is named). No output file is left behind.
    """
    source, output = Path(source), Path(output)
    _check_request(model, source, output, chunk_size, id_column, proba)
    started = time.perf_counter()
    rows = chunks = 0
    reader = read_chunks(source, chunk_size, id_column, model.signature)
    with (
        EnergyMeter(codecarbon="if-ready") as meter,
        contextlib.closing(reader),
        AtomicOutput(output) as sink,
        _progress_bar(source.name, progress) as show,
    ):
        for chunk in reader:
            sink.write(_score_chunk(model, chunk, source, id_column, proba), chunk.where(source))
            rows += chunk.rows
            chunks += 1
            show(rows, chunk.total)
        if rows == 0:
            raise InvalidInputError(f"{source.name} has no rows to score", field="input")
        show(rows, rows)
    return ScoreSummary(rows, chunks, output, time.perf_counter() - started, meter.use)


def _check_request(
    model: LoadedModel,
    source: Path,
    output: Path,
    chunk_size: int,
    id_column: str | None,
    proba: bool,
) -> None:
    if not has_suffix(source, INPUT_SUFFIXES):
        raise InvalidInputError(
            f"cannot read {source.name}: use a {', '.join(INPUT_SUFFIXES)} file", field="input"
        )
    if not source.is_file():
        raise InvalidInputError(f"no such file: {source}", field="input")
    if not has_suffix(output, OUTPUT_SUFFIXES):
        raise InvalidInputError(
            f"cannot write {output.name}: use a {', '.join(OUTPUT_SUFFIXES)} file", field="output"
        )
    if not output.parent.is_dir():
        raise InvalidInputError(f"no such folder: {output.parent}", field="output")
    if output.is_dir():
        raise InvalidInputError(f"{output} is a folder, not a file", field="output")
    if output.resolve() == source.resolve():
        raise InvalidInputError("the output would overwrite the input", field="output")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(
            f"chunk size must be a positive number of rows, not {chunk_size!r}",
            field="chunk_size",
        )
    if id_column is not None and (id_column == "prediction" or id_column.startswith("proba_")):
        raise InvalidInputError(
            f"id column {id_column!r} would clash with a prediction column; rename it",
            field="id_column",
        )
    if proba and not model.has_proba:
        raise InvalidInputError(
            f"this {type(model.raw).__name__} model has no class probabilities; drop proba",
            field="proba",
        )


def _score_chunk(
    model: LoadedModel, chunk: Chunk, source: Path, id_column: str | None, proba: bool
) -> pa.Table:
    where = chunk.where(source)
    try:
        data = model.validate_input(chunk.features)
    except InputSchemaError as exc:
        raise _located(exc, where, chunk.features, model.signature) from None
    if chunk.ids is None:
        columns: dict[str, Any] = {
            "row": pa.array(np.arange(chunk.start, chunk.start + chunk.rows))
        }
    else:
        columns = {str(id_column): chunk.ids}
    predictions = _call_model(model.predict, data, where)
    columns.update(_prediction_columns(predictions, chunk.rows, where))
    if proba:
        probabilities = _call_model(model.predict_proba, data, where)
        columns.update(_proba_columns(model, probabilities, chunk.rows, where))
    return pa.table({name: _to_arrow(values, name, where) for name, values in columns.items()})


def _located(
    exc: InputSchemaError,
    where: str,
    features: pd.DataFrame,
    signature: ModelSignature | None,
) -> InputSchemaError:
    names = [str(c) for c in features.columns]
    if signature is not None:
        names += [c.name for c in signature.inputs]
    blamed = next((n for n in names if f"column {n!r}" in exc.problems[0]), exc.field)
    return InputSchemaError([f"{where}: {p}" for p in exc.problems], field=blamed or "input")


def _call_model(method: Callable[[Any], Any], data: Any, where: str) -> Any:
    try:
        return method(data)
    except ModelkeepError:
        raise
    except Exception as exc:  # noqa: BLE001 - the framework's own complaint, shown as one line
        raise InvalidInputError(
            f"{where}: the model could not score these rows: {first_line(exc)}", field="input"
        ) from None


def _prediction_columns(result: Any, rows: int, where: str) -> dict[str, Any]:
    if isinstance(result, pd.DataFrame):
        names = [str(c) for c in result.columns]
        values = [result.iloc[:, i].to_numpy() for i in range(result.shape[1])]
    else:
        array = np.asarray(result)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim == 1:
            names, values = ["prediction"], [array]
        elif array.ndim == 2:
            names, values = [str(i) for i in range(array.shape[1])], list(array.T)
        else:
            raise _bad_output(where, f"a {array.ndim}-D array of predictions")
    if len(values) == 1:
        names = ["prediction"]
    else:
        names = [f"prediction_{name}" for name in names]
    _check_length(values[0] if values else [], rows, where)
    return dict(zip(names, values, strict=True))


def _proba_columns(model: LoadedModel, result: Any, rows: int, where: str) -> dict[str, Any]:
    array = np.asarray(result)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise _bad_output(where, f"a {array.ndim}-D array of probabilities")
    _check_length(array, rows, where)
    labels = _class_labels(model, array.shape[1])
    return {f"proba_{label}": array[:, i] for i, label in enumerate(labels)}


def _class_labels(model: LoadedModel, count: int) -> list[str]:
    """The class of each probability column: the estimator's ``classes_``, else the labels the
    flavor stored, else the column positions."""
    classes = getattr(model.raw, "classes_", None)
    if classes is None:
        classes = model.manifest.flavor_options.get("classes")
    if classes is None or len(classes) != count:
        return [str(i) for i in range(count)]
    return [str(c.item() if isinstance(c, np.generic) else c) for c in classes]


def _check_length(values: Any, rows: int, where: str) -> None:
    if len(values) != rows:
        raise _bad_output(where, f"{len(values)} predictions for {rows} rows")


def _bad_output(where: str, what: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: the model returned {what}", field="model")


def _to_arrow(values: Any, name: str, where: str) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{where}: column {name!r} cannot be written: {first_line(exc)}", field=name
        ) from None


@contextlib.contextmanager
def _progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich bar on stderr over the rows scored; yields ``update(rows_done, total)``."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich import progress as rp
    from rich.console import Console

    bar = rp.Progress(
        rp.TextColumn("[bold]{task.description}"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TextColumn("rows"),
        rp.TimeElapsedColumn(),
        rp.TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
