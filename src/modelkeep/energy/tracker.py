"""codecarbon's offline tracker, started without making the caller wait for its hardware probe.

The first tracker a process starts probes the hardware (CPU model and TDP via a ``cpuinfo``
subprocess, RAPL files, GPUs): about 1.5-2 s of wall time and 1-2 CPU seconds, which
codecarbon then caches for the life of the process (a later tracker starts in ~10 ms). So that
no measured block waits for it, the probe runs once per process in a background thread
(:class:`_Probe`); a tracker asked for meanwhile starts the moment the probe finishes, and its
block accounts for the CPU the probe used (:func:`probe_cpu_seconds`) and estimates the
seconds before the tracker started (see :mod:`modelkeep.energy.meter`).
:func:`prepare_codecarbon` runs the probe now, for callers that want every block measured.

Every tracker is configured to write nothing and reach no network: no output methods (no
``emissions.csv``), no emissions endpoint, no Electricity Maps token (not even one from a
``.codecarbon.config``), the offline tracker with a fixed country, ``log_level="error"``; it
follows this process and its children (``tracking_mode="process"``); several may run at once
(a tuning study's and its refit's). Its threads (two ``threading.Timer`` schedulers) end at
:meth:`CodecarbonRun.stop`. codecarbon 3 or newer is used (its ``output_methods`` setting);
with an older one, or none, meters fall back on modelkeep's estimate.

Warnings are not filtered here: so configured, codecarbon 3 emits none, and wrapping it in
``warnings.catch_warnings`` would drop the filters that the modules it imports lazily install
for good (``requests`` silences urllib3's ``DependencyWarning`` that way). For the same reason
the modules the probe would import are imported first, on the caller's thread
(:func:`tracker_class`): a module that installs a warnings filter while importing on the probe's
thread races with any ``catch_warnings`` block the caller's thread enters or leaves meanwhile
(scikit-learn and Optuna use many), and the filter can be lost. Should a future codecarbon warn
under an ``error`` filter, its own ``suppress`` wrappers swallow the exception and the meter
falls back on the estimate.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelkeep.energy.resources import children_cpu_seconds

__all__ = [
    "CodecarbonRun",
    "TrackerReading",
    "codecarbon_ready",
    "prepare_codecarbon",
    "probe_cpu_seconds",
    "tracker_class",
]

# CPU modes in which codecarbon reads energy counters rather than modelling power from load.
_COUNTER_MODES = frozenset({"intel_rapl", "intel_power_gadget", "windows_emi"})
_PROBE_COUNTRY = "USA"  # the probe only fills codecarbon's hardware cache; any country does
# What codecarbon 3 imports lazily while probing and measuring (requests, pycountry, cpuinfo).
_LAZY_MODULES = (
    "codecarbon.core.resource_tracker",
    "codecarbon.core.emissions",
    "codecarbon.core.cloud",
    "codecarbon.external.geography",
    "cpuinfo",
)


@dataclass(frozen=True, slots=True)
class TrackerReading:
    """What one codecarbon tracker measured, from its start to its stop."""

    energy_kwh: float
    co2_kg: float
    seconds: float
    method: str


def tracker_class() -> Any | None:
    """codecarbon's ``OfflineEmissionsTracker``; None when codecarbon 3+ cannot be imported.

    Also imports, on this thread, the modules codecarbon would import lazily on the probe's
    (see the module docstring); ~0.15 s the first time.
    """
    try:
        module = importlib.import_module("codecarbon")
        major = int(str(getattr(module, "__version__", "0")).split(".")[0])
    except Exception:  # noqa: BLE001 - missing, or broken on this platform: use the estimate
        return None
    if major < 3:
        return None
    for name in _LAZY_MODULES:
        with contextlib.suppress(ImportError):  # best effort: a later version may move them
            importlib.import_module(name)
    # codecarbon logs its set-up at INFO before a tracker's log_level applies.
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    return getattr(module, "OfflineEmissionsTracker", None)


def _new_tracker(cls: Any, country: str) -> Any:
    tracker = cls(
        country_iso_code=country,
        output_methods=[],
        emissions_endpoint=None,
        electricitymaps_api_token=None,
        log_level="error",
        tracking_mode="process",
        allow_multiple_runs=True,
        project_name="modelkeep",
    )
    # A legacy co2_signal_api_token in a config file would still switch the API on.
    if getattr(tracker, "_electricitymaps_api_token", None) is not None:
        tracker._electricitymaps_api_token = None
    return tracker


def _method(tracker: Any) -> str:
    """``codecarbon`` when the CPU's energy came from counters, else ``codecarbon-estimate``."""
    for hardware in getattr(tracker, "_hardware", None) or ():
        if type(hardware).__name__ in ("AppleSiliconChip", "Raspberry"):  # powermetrics, PMIC
            return "codecarbon"
        if type(hardware).__name__ == "CPU" and getattr(hardware, "_mode", "") in _COUNTER_MODES:
            return "codecarbon"
    return "codecarbon-estimate"


class _Probe:
    """codecarbon's one-off hardware probe, run once per process in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._cpu = 0.0
        self._measured = False
        self._ok = False
        self._waiting: list[Callable[[], None]] = []

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        """Whether the probe's tracker measured (set before the queued trackers start)."""
        return self._ok

    def start(self, cls: Any) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(cls,), name="modelkeep-codecarbon-probe", daemon=True
                )
                self._thread.start()

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout) and self._ok

    def when_ready(self, callback: Callable[[], None]) -> bool:
        """Queue ``callback`` for the end of the probe; False when it has ended already."""
        with self._lock:
            if self._done.is_set():
                return False
            self._waiting.append(callback)
            return True

    def cpu_seconds(self) -> float:
        """CPU the probe has used so far (its thread, plus its subprocesses once it ended)."""
        # Under the lock: the thread cannot finish (and free its id) while its clock is read.
        with self._lock:
            if self._measured or self._thread is None or self._thread.ident is None:
                return self._cpu
            try:  # the thread's own clock (Linux, BSD); elsewhere counted once it ends
                return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
            except (AttributeError, OSError):
                return 0.0

    def _run(self, cls: Any) -> None:
        started, children = time.thread_time(), children_cpu_seconds()
        ok = False
        try:
            tracker = _new_tracker(cls, _PROBE_COUNTRY)
            tracker.start()
            tracker.stop()
            ok = getattr(tracker, "final_emissions_data", None) is not None
        except Exception:  # noqa: BLE001 - codecarbon unusable here: meters fall back
            ok = False
        cost = time.thread_time() - started + children_cpu_seconds() - children
        with self._lock:
            self._cpu, self._ok, self._measured = cost, ok, True
        # Start the trackers that waited, then mark the probe done: once ``ready`` is true,
        # every tracker queued before has started.
        while True:
            with self._lock:
                waiting, self._waiting = self._waiting, []
                if not waiting:
                    self._done.set()
                    return
            for callback in waiting:
                with contextlib.suppress(Exception):
                    callback()


_PROBE = _Probe()


def prepare_codecarbon(timeout: float | None = 60.0) -> bool:
    """Run codecarbon's hardware probe now (once per process) and wait for it.

    Call it before work that must be measured by codecarbon from its first second (a test, a
    benchmark); otherwise the first meter of a process starts it in the background.

    Returns:
        True when codecarbon is installed and its tracker works on this machine.
    """
    cls = tracker_class()
    if cls is None:
        return False
    _PROBE.start(cls)
    return _PROBE.wait(timeout)


def codecarbon_ready() -> bool:
    """Whether this process has probed the hardware (a tracker then starts at once)."""
    return _PROBE.ready


def probe_cpu_seconds() -> float:
    """CPU seconds the hardware probe has used in this process so far."""
    return _PROBE.cpu_seconds()


class CodecarbonRun:
    """One codecarbon tracker over one measured block.

    Args:
        cls: ``OfflineEmissionsTracker`` (from :func:`tracker_class`).
        country: 3-letter ISO code of the grid.
        on_late_start: called (on the probe's thread) when the tracker starts after the probe,
            so the meter can note how far the block had got.
    """

    def __init__(self, cls: Any, country: str, on_late_start: Callable[[], None]) -> None:
        self._cls = cls
        self._country = country
        self._on_late_start = on_late_start
        self._lock = threading.Lock()
        self._tracker: Any = None
        self._closed = False

    def start(self, *, wait_for_probe: bool = True) -> bool:
        """Start now if the probe is done; else, with ``wait_for_probe``, when it ends.

        Returns:
            Whether the tracker started now.
        """
        if _PROBE.ready:
            if not _PROBE.ok:  # codecarbon failed here; do not redo its slow set-up each time
                return False
            with self._lock:
                self._tracker = _new_tracker(self._cls, self._country)
                self._tracker.start()
            return True
        if wait_for_probe:
            _PROBE.start(self._cls)
            if not _PROBE.when_ready(self._start_late):
                return self.start()
        return False

    def _start_late(self) -> None:
        with self._lock:
            if self._closed or not _PROBE.ok:
                return
            self._on_late_start()
            self._tracker = _new_tracker(self._cls, self._country)
            self._tracker.start()

    def stop(self) -> TrackerReading | None:
        """Stop the tracker (if it started) and read it; None when it measured nothing."""
        with self._lock:
            self._closed = True
            tracker, self._tracker = self._tracker, None
        if tracker is None:
            return None
        tracker.stop()
        data = getattr(tracker, "final_emissions_data", None)
        energy = getattr(data, "energy_consumed", None)
        if data is None or energy is None:
            return None
        return TrackerReading(
            energy_kwh=float(energy),
            co2_kg=float(getattr(data, "emissions", 0.0) or 0.0),
            seconds=float(getattr(data, "duration", 0.0) or 0.0),
            method=_method(tracker),
        )
