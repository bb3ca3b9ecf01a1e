"""The progress bar of a study: trials finished (by every worker) and the best value so far.

It draws on stderr, and only when stderr is a terminal unless asked otherwise, so piped output
and ``--json`` stay clean. (Failed trials are reported one line each by the objective, through
the ``modelkeep.tune`` logger; the bar prints such lines above itself.)
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["TrialProgress"]


class TrialProgress:
    """A Rich progress bar over a study's trials.

    Args:
        study_name: shown in the bar's description.
        total: the trial budget (None: only a timeout bounds the study).
        enabled: draw it; None means "when stderr is a terminal".
    """

    def __init__(self, study_name: str, total: int | None, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.study_name = study_name
        self.total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TrialProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[best]}"),
                console=Console(stderr=True),
            )
            self._task = progress.add_task(self.study_name, total=self.total, best="best: -")
            progress.start()
            self._progress = progress
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, study: optuna.Study) -> None:
        """Redraw from the study's trials (read from the storage's cache)."""
        if self._progress is None or self._task is None:
            return
        trials = study.get_trials(deepcopy=False)
        finished = sum(1 for t in trials if t.state.is_finished())
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        best = "best: -"
        if complete:
            pick = max if study.direction.name == "MAXIMIZE" else min
            top = pick(complete, key=lambda t: float(t.value or 0.0))
            best = f"best: {top.value:.6g} (trial {top.number})"
        self._progress.update(self._task, completed=finished, best=best)

    def after_trial(self, study: optuna.Study, _trial: FrozenTrial) -> None:
        """Optuna callback: redraw after each trial of this worker."""
        self.update(study)
