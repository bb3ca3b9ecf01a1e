"""CPU time and estimated energy per 1,000 predictions of a long-running inference server.

The server's process CPU time since it started (``time.process_time``: model loading, HTTP
parsing, scoring, logging, every thread) divided by the predictions it has made (rows scored by
any model call: primary, canary and shadow), times 1,000. It is the whole process's cost spread
over its predictions, so it starts high (loading the models) and falls towards the marginal cost
as traffic grows. The energy is modelkeep's estimate (``method="estimate"``) of that CPU time
alone: CPU seconds x watts per core, with the country's carbon intensity (see
:mod:`modelkeep.energy.estimate`); memory held while idle is not a cost of predictions.

The inference server shows it as the Prometheus gauges
``modelkeep_serve_cpu_seconds_per_1k_predictions`` and
``modelkeep_serve_energy_kwh_per_1k_predictions`` and under ``"energy"`` in ``GET /version``.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from modelkeep.energy.estimate import estimate_energy, resolve_country, resolve_watts_per_core

__all__ = ["ServingEnergy"]


class ServingEnergy:
    """Count predictions against the process's CPU time (see the module docstring).

    Args:
        country_iso_code: the grid (default ``MODELKEEP_ENERGY_COUNTRY``, else ``USA``).
        watts_per_core: default ``MODELKEEP_ENERGY_WATTS_PER_CORE``, else 10 W.

    Example:
        >>> energy = ServingEnergy("FRA")
        >>> energy.observe(500)
        >>> energy.snapshot()["predictions"]
        500
    """

    def __init__(
        self, country_iso_code: str | None = None, *, watts_per_core: float | None = None
    ) -> None:
        self.country = resolve_country(country_iso_code)
        self.watts_per_core = resolve_watts_per_core(watts_per_core)
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        self._predictions = 0
        self._lock = threading.Lock()

    def observe(self, predictions: int) -> None:
        """Count ``predictions`` more (rows one model call scored)."""
        with self._lock:
            self._predictions += predictions

    @property
    def predictions(self) -> int:
        """Predictions counted so far."""
        return self._predictions

    def cpu_seconds(self) -> float:
        """Process CPU seconds since this object was made (the server's start)."""
        return time.process_time() - self._cpu0

    def cpu_seconds_per_1k(self) -> float:
        """CPU seconds per 1,000 predictions (NaN before the first)."""
        predictions = self._predictions
        return self.cpu_seconds() / predictions * 1000 if predictions else math.nan

    def energy_kwh_per_1k(self) -> float:
        """Estimated kWh per 1,000 predictions (NaN before the first)."""
        return self._estimate(self.cpu_seconds_per_1k())[0]

    def _estimate(self, cpu_per_1k: float) -> tuple[float, float]:
        if math.isnan(cpu_per_1k):
            return math.nan, math.nan
        use = estimate_energy(cpu_per_1k, country=self.country, watts_per_core=self.watts_per_core)
        return use.energy_kwh, use.co2_kg

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready figures (None where there is no prediction yet), for ``GET /version``."""
        predictions, cpu = self._predictions, self.cpu_seconds()
        per_1k = cpu / predictions * 1000 if predictions else math.nan
        energy, co2 = self._estimate(per_1k)
        return {
            "predictions": predictions,
            "cpu_seconds": cpu,
            "uptime_seconds": time.perf_counter() - self._wall0,
            "cpu_seconds_per_1k_predictions": _or_none(per_1k),
            "energy_kwh_per_1k_predictions": _or_none(energy),
            "co2_kg_per_1k_predictions": _or_none(co2),
            "method": "estimate",
            "country": self.country,
            "watts_per_core": self.watts_per_core,
        }


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value
