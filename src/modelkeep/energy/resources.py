"""Resource use of a piece of work: wall time, CPU seconds, peak memory.

CPU time is this process's (``time.process_time``: user + system, all threads), so it exceeds
wall time when a model trains on several cores. With ``include_children=True`` it also counts
the child processes that ended and were waited for during the work (worker pools that were
shut down, subprocesses that exited): ``getrusage(RUSAGE_CHILDREN)``, which cannot see a child
that is still running. Peak memory is the process's resident-set high-water mark
(``getrusage``'s ``ru_maxrss``): the most memory the process has held so far, which includes
what it held before the work began. There is no portable way to get a peak for a stretch of
time without sampling, and a high-water mark is what sizing a machine needs.

This module lives in :mod:`modelkeep.energy` (which builds energy estimates on it) and is
re-exported by :mod:`modelkeep.train.resources`, its first home.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from types import TracebackType

__all__ = ["ResourceMeter", "ResourceUse", "children_cpu_seconds", "peak_memory_mb"]


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """What a :class:`ResourceMeter` measured."""

    wall_time_s: float
    cpu_time_s: float
    peak_memory_mb: float

    def as_metrics(self) -> dict[str, float]:
        """``{"wall_time_s", "cpu_time_s", "peak_memory_mb"}``, as the run logs them."""
        return {
            "wall_time_s": self.wall_time_s,
            "cpu_time_s": self.cpu_time_s,
            "peak_memory_mb": self.peak_memory_mb,
        }


def peak_memory_mb() -> float:
    """This process's peak resident memory in MiB (NaN where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return peak / scale


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's ended, waited-for children (0 on Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


class ResourceMeter:
    """Measure the ``with`` block it guards; read :attr:`use` afterwards.

    Args:
        include_children: also count the CPU time of child processes that ended during the
            block (see the module docstring).

    Example:
        >>> with ResourceMeter() as meter:
        ...     total = sum(range(1000))
        >>> meter.use.wall_time_s >= 0
        True
    """

    def __init__(self, *, include_children: bool = False) -> None:
        self.include_children = include_children
        self._wall = 0.0
        self._cpu = 0.0
        self.use = ResourceUse(0.0, 0.0, 0.0)

    def cpu_now(self) -> float:
        """The CPU clock this meter reads (process, plus ended children when asked)."""
        cpu = time.process_time()
        return cpu + children_cpu_seconds() if self.include_children else cpu

    def __enter__(self) -> ResourceMeter:
        self._wall = time.perf_counter()
        self._cpu = self.cpu_now()
        return self

    def stop(self) -> ResourceUse:
        """Measure up to now (the meter may keep running)."""
        self.use = ResourceUse(
            wall_time_s=time.perf_counter() - self._wall,
            cpu_time_s=self.cpu_now() - self._cpu,
            peak_memory_mb=peak_memory_mb(),
        )
        return self.use

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
