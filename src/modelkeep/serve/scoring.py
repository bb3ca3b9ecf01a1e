"""Score one micro-batch: build the model input once, check it, predict, split the outputs.

The jobs of a batch are grouped by their column names (most clients send the same ones), and
each group becomes one DataFrame (or one array for a tensor model), checked against the
signature once. Only when that check fails is each job checked alone, so one client's bad
request is refused with its own message while the others in the batch are still scored.
A model error while predicting is isolated the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError, ModelkeepError
from modelkeep.registry.loaded import LoadedModel
from modelkeep.serve.batcher import BatchScorer, Job, Outcome
from modelkeep.serve.table import merge_rows

__all__ = ["ScoringModel", "make_batch_scorer"]

_log = logging.getLogger("modelkeep.serve")


class ScoringModel(Protocol):
    """What a batch is scored with (a runtime predictor: ONNX or the native model)."""

    has_proba: bool

    def predict(self, data: Any) -> Any: ...

    def predict_proba(self, data: Any) -> Any: ...

    def predict_both(self, data: Any) -> tuple[Any, Any]: ...


def make_batch_scorer(
    model: LoadedModel, predictor: ScoringModel, *, always_proba: bool = False
) -> BatchScorer:
    """A :data:`~modelkeep.serve.batcher.BatchScorer` for ``model`` run by ``predictor``.

    With ``always_proba`` a classifier's probabilities are computed for every job (the
    inference log records them), in the same model call as the labels where the runtime
    allows (ONNX); otherwise only for jobs that ask for them.
    """
    classes = _classes(model)
    proba_for_all = always_proba and predictor.has_proba

    def score(jobs: list[Job]) -> list[Outcome | BaseException]:
        results: list[Outcome | BaseException | None] = [None] * len(jobs)
        groups: dict[tuple[str, ...] | None, list[int]] = {}
        for index, job in enumerate(jobs):
            try:
                names = job.table.names_for(model.signature)
            except InvalidInputError as exc:
                results[index] = exc
                continue
            groups.setdefault(names, []).append(index)
        for names, members in groups.items():
            chosen = [jobs[i] for i in members]
            for i, outcome in zip(members, _score_group(chosen, names), strict=True):
                results[i] = outcome
        return [r if r is not None else RuntimeError("job not scored") for r in results]

    def _score_group(
        jobs: list[Job], names: tuple[str, ...] | None
    ) -> list[Outcome | BaseException]:
        try:
            data = model.validate_input(_model_input(merge_rows(jobs_tables(jobs)), names))
            return _predict_split(predictor, data, jobs, classes, proba_for_all)
        except (ModelkeepError, ValueError, TypeError) as exc:
            if len(jobs) == 1:
                return [_as_input_error(exc)]
        # One job spoilt the batch: score each alone, so each gets its own answer.
        return [_score_group([job], names)[0] for job in jobs]

    return score


def jobs_tables(jobs: Sequence[Job]) -> list[Any]:
    """The tables of ``jobs`` in order."""
    return [job.table for job in jobs]


def _model_input(rows: list[list[Any]], names: tuple[str, ...] | None) -> Any:
    if names is None:
        try:
            return np.asarray(rows)
        except ValueError as exc:  # ragged rows
            raise InvalidInputError(f"rows of different lengths: {exc}", field="rows") from None
    return pd.DataFrame(rows, columns=list(names))


def _predict_split(
    predictor: ScoringModel,
    data: Any,
    jobs: list[Job],
    classes: Sequence[Any] | None,
    proba_for_all: bool,
) -> list[Outcome | BaseException]:
    want_proba = any(job.want_proba for job in jobs)
    if want_proba and not predictor.has_proba:
        raise InvalidInputError("this model gives no class probabilities", field="output")
    proba: Any = None
    if proba_for_all:
        labels, proba = predictor.predict_both(data)
    else:
        labels = predictor.predict(data)
        if want_proba:
            proba = predictor.predict_proba(data)
    labels = np.asarray(labels)
    proba = None if proba is None else np.asarray(proba)
    outcomes: list[Outcome | BaseException] = []
    start = 0
    for job in jobs:
        stop = start + len(job)
        part = proba[start:stop] if proba is not None else None
        outcomes.append(Outcome(labels[start:stop], part, classes))
        start = stop
    return outcomes


def _as_input_error(exc: BaseException) -> BaseException:
    if isinstance(exc, ModelkeepError):
        return exc
    _log.info("the model refused an input: %s", exc)
    return InvalidInputError(f"the model could not score this input: {exc}", field="inputs")


def _classes(model: LoadedModel) -> list[Any] | None:
    raw = model.raw
    found = getattr(raw, "classes_", None)
    if found is None and hasattr(raw, "steps"):
        found = getattr(raw.steps[-1][1], "classes_", None)
    return None if found is None else list(np.asarray(found).tolist())
