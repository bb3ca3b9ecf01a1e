"""Monitoring windows over the inference log: the last ``1h`` (by time) or the last ``5000``
rows (by count), ending now or at a given time.

A time window ``[end - length, end)`` reads only the log's hour partitions it touches; a count
window reads the existing hour folders backwards from ``end`` until it has enough rows. Rows
are those the model version answered (primary or canary: shadow rows belong to the shadow's
own version).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modelkeep.exceptions import InvalidInputError

__all__ = ["Window", "WindowRows", "parse_window", "read_window"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_COUNT = re.compile(r"^\s*(\d+)\s*(?:rows?)?\s*$")
_HOUR_MS = 3_600_000
_MAX_SECONDS = 3650 * 86400


@dataclass(frozen=True)
class Window:
    """A window: ``seconds`` long (time) or the last ``rows`` rows (count)."""

    text: str
    seconds: float | None = None
    rows: int | None = None


@dataclass(frozen=True)
class WindowRows:
    """The rows of one window and its bounds (milliseconds since the epoch, UTC)."""

    frame: pd.DataFrame
    start_ms: int
    end_ms: int


def parse_window(text: str) -> Window:
    """``"1h"``, ``"30m"``, ``"7d"`` (time) or ``"5000"`` / ``"5000rows"`` (count).

    Raises:
        InvalidInputError: (``field="window"``) anything else, or a zero window.
    """
    duration = _DURATION.match(text)
    if duration:
        seconds = float(duration.group(1)) * _UNITS[duration.group(2)]
        if seconds <= 0:
            raise InvalidInputError("window: must be longer than 0", field="window")
        if seconds > _MAX_SECONDS:
            raise InvalidInputError("window: at most 3650 days", field="window")
        return Window(text.strip(), seconds=seconds)
    count = _COUNT.match(text)
    if count and int(count.group(1)) > 0:
        return Window(text.strip(), rows=int(count.group(1)))
    raise InvalidInputError(
        f"window: {text!r} is neither a duration (90s, 15m, 1h, 7d) nor a row count (5000)",
        field="window",
    )


def read_window(
    root: Path, model: str, version: str, window: Window, *, end_ms: int | None = None
) -> WindowRows:
    """The window's rows of ``model`` version ``version`` from the inference log at ``root``."""
    from modelkeep.serve.inference_log import read_inference_log

    end = int(time.time() * 1000) if end_ms is None else end_ms
    if window.seconds is not None:
        start = end - int(window.seconds * 1000)
        frame = _answered(read_inference_log(root, model, since_ms=start, until_ms=end), version)
        return WindowRows(frame, start, end)
    assert window.rows is not None
    return _last_rows(root, model, version, window.rows, end)


def _last_rows(root: Path, model: str, version: str, wanted: int, end: int) -> WindowRows:
    """The last ``wanted`` rows before ``end``, reading the log's hour folders newest first."""
    from modelkeep.serve.inference_files import PREDICTIONS, hour_dirs, model_dir
    from modelkeep.serve.inference_log import read_inference_log

    buckets = [b for b, _ in hour_dirs(model_dir(Path(root), PREDICTIONS, model))]
    parts: list[pd.DataFrame] = []
    found = 0
    for bucket in sorted((b for b in buckets if b * _HOUR_MS < end), reverse=True):
        since, until = bucket * _HOUR_MS, min(end, (bucket + 1) * _HOUR_MS)
        part = _answered(read_inference_log(root, model, since_ms=since, until_ms=until), version)
        parts.append(part)
        found += len(part)
        if found >= wanted:
            break
    if not parts:
        return WindowRows(pd.DataFrame(), end, end)
    frame = pd.concat(parts[::-1], ignore_index=True)
    frame = frame.sort_values("timestamp", kind="stable").tail(wanted).reset_index(drop=True)
    start = _ms(frame["timestamp"].iloc[0]) if len(frame) else end
    return WindowRows(frame, start, end)


def _answered(frame: pd.DataFrame, version: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = (frame["version"].astype(str) == version) & (frame["variant"] != "shadow")
    return frame[keep]


def _ms(value: object) -> int:
    return int(pd.Timestamp(value).value // 1_000_000)  # type: ignore[arg-type]
