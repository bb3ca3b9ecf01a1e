"""``EnergyMeter``: time, CPU, peak memory, energy and CO2 of the block it guards.

Time, CPU (this process, plus child processes that ended during the block) and peak memory come
from :class:`~modelkeep.energy.resources.ResourceMeter`. Energy and CO2 come from codecarbon's
offline tracker when it is installed (``method`` ``codecarbon`` with hardware energy counters,
``codecarbon-estimate`` without: its CPU-load x TDP model), else from modelkeep's own formula
(``estimate``, see :mod:`modelkeep.energy.estimate`).

Overhead: codecarbon's first tracker in a process probes the hardware for ~1.5-2 s. The meter
never waits for that probe (:mod:`modelkeep.energy.tracker` runs it in a background thread):
a block that ends before the probe is estimated (``method="estimate"``); a longer block gets
codecarbon's measure from the moment the probe ends plus the estimate for the seconds before
(``tracked_seconds`` says how much codecarbon saw). The probe's own CPU time is taken out of
``cpu_seconds``. Once the probe has run, starting and stopping a tracker costs ~10-50 ms.

Example:
    >>> with EnergyMeter(country_iso_code="FRA", codecarbon="off") as meter:
    ...     total = sum(range(100_000))
    >>> meter.use.method, meter.use.country
    ('estimate', 'FRA')
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Literal

from modelkeep.energy.estimate import (
    EnergyUse,
    estimate_energy,
    resolve_country,
    resolve_watts_per_core,
)
from modelkeep.energy.resources import ResourceMeter, ResourceUse
from modelkeep.energy.tracker import (
    CodecarbonRun,
    TrackerReading,
    codecarbon_ready,
    probe_cpu_seconds,
    tracker_class,
)
from modelkeep.exceptions import InvalidInputError

__all__ = ["CodecarbonMode", "EnergyMeter"]

CodecarbonMode = Literal["on", "if-ready", "off"]
_MODES = ("on", "if-ready", "off")


class EnergyMeter:
    """Measure the ``with`` block it guards (or :meth:`start` to :meth:`stop`); read :attr:`use`.

    Args:
        country_iso_code: 3-letter ISO code of the electricity grid; default
            ``MODELKEEP_ENERGY_COUNTRY``, else ``USA``.
        watts_per_core: for the fallback estimate; default ``MODELKEEP_ENERGY_WATTS_PER_CORE``,
            else 10 W.
        codecarbon: ``on`` (use codecarbon when installed; the first meter of a process starts
            its hardware probe), ``if-ready`` (only when this process has probed already: no
            start-up work at all, for one-shot commands) or ``off`` (always the estimate).

    Raises:
        InvalidInputError: a bad country code, wattage or mode.
    """

    def __init__(
        self,
        country_iso_code: str | None = None,
        *,
        watts_per_core: float | None = None,
        codecarbon: CodecarbonMode = "on",
    ) -> None:
        if codecarbon not in _MODES:
            raise InvalidInputError(
                f"codecarbon: expected one of {', '.join(_MODES)}, got {codecarbon!r}",
                field="codecarbon",
            )
        self.country = resolve_country(country_iso_code)
        self.watts_per_core = resolve_watts_per_core(watts_per_core)
        self.codecarbon = codecarbon
        self.use = estimate_energy(0.0, country=self.country, watts_per_core=self.watts_per_core)
        self._resources = ResourceMeter(include_children=True)
        self._run: CodecarbonRun | None = None
        self._wall0 = self._cpu0 = self._probe0 = 0.0
        self._head: tuple[float, float] | None = None
        self._stopped = True

    def start(self) -> EnergyMeter:
        """Start measuring (a ``with`` block calls this)."""
        self._resources.__enter__()
        self._wall0, self._cpu0 = time.perf_counter(), self._resources.cpu_now()
        self._probe0 = probe_cpu_seconds()
        self._head, self._run, self._stopped = None, None, False
        if self.codecarbon == "off" or (self.codecarbon == "if-ready" and not codecarbon_ready()):
            return self
        cls = tracker_class()
        if cls is not None:
            self._run = CodecarbonRun(cls, self.country, self._note_late_start)
            self._run.start(wait_for_probe=self.codecarbon == "on")
        return self

    def _note_late_start(self) -> None:
        self._head = (time.perf_counter() - self._wall0, self._resources.cpu_now() - self._cpu0)

    def stop(self) -> EnergyUse:
        """Stop measuring and return :attr:`use` (a second call returns the same)."""
        if self._stopped:
            return self.use
        self._stopped = True
        resources = self._resources.stop()
        reading = self._run.stop() if self._run is not None else None
        probe = max(probe_cpu_seconds() - self._probe0, 0.0)
        self.use = self._combine(resources, probe, reading)
        return self.use

    def _combine(
        self, resources: ResourceUse, probe: float, reading: TrackerReading | None
    ) -> EnergyUse:
        cpu = max(resources.cpu_time_s - probe, 0.0)
        estimate = estimate_energy(
            cpu,
            resources.wall_time_s,
            resources.peak_memory_mb,
            country=self.country,
            watts_per_core=self.watts_per_core,
        )
        if reading is None:
            return estimate
        head_wall, head_cpu = self._head or (0.0, 0.0)
        head = estimate_energy(
            max(head_cpu - probe, 0.0),
            head_wall,
            resources.peak_memory_mb,
            country=self.country,
            watts_per_core=self.watts_per_core,
        )
        intensity = (
            reading.co2_kg / reading.energy_kwh * 1000
            if reading.energy_kwh > 0
            else estimate.carbon_intensity_g_per_kwh
        )
        energy = reading.energy_kwh + (head.energy_kwh if head_wall > 0 else 0.0)
        return EnergyUse(
            wall_seconds=resources.wall_time_s,
            cpu_seconds=cpu,
            peak_memory_mb=resources.peak_memory_mb,
            energy_kwh=energy,
            co2_kg=energy * intensity / 1000,
            method=reading.method,
            country=self.country,
            carbon_intensity_g_per_kwh=intensity,
            tracked_seconds=min(reading.seconds, resources.wall_time_s),
        )

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
