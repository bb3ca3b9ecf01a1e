"""What a piece of work used, and modelkeep's own energy estimate when nothing measures it.

The estimate (``method = "estimate"``) is deliberately simple and says so:

* CPU: ``cpu_seconds x watts_per_core`` (default 10 W per busy core, a mid-range server core
  under load; ``MODELKEEP_ENERGY_WATTS_PER_CORE`` or ``watts_per_core=`` to change it);
* memory: ``peak GB x 0.375 W x wall seconds`` (3 W per 8 GB, codecarbon's long-standing
  RAM model);
* CO2: energy x the country's average carbon intensity of electricity, from the small table
  below (the world average for a country it does not list).

The country is a 3-letter ISO code: the argument, else ``MODELKEEP_ENERGY_COUNTRY``, else
``USA``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from modelkeep.energy.resources import ResourceUse
from modelkeep.exceptions import InvalidInputError

__all__ = [
    "COUNTRY_ENV",
    "DEFAULT_COUNTRY",
    "DEFAULT_WATTS_PER_CORE",
    "WATTS_PER_CORE_ENV",
    "EnergyUse",
    "carbon_intensity",
    "estimate_energy",
    "resolve_country",
    "resolve_watts_per_core",
]

COUNTRY_ENV = "MODELKEEP_ENERGY_COUNTRY"
WATTS_PER_CORE_ENV = "MODELKEEP_ENERGY_WATTS_PER_CORE"
DEFAULT_COUNTRY = "USA"
DEFAULT_WATTS_PER_CORE = 10.0
RAM_WATTS_PER_GB = 0.375
_JOULES_PER_KWH = 3.6e6

# Average carbon intensity of electricity generation in 2023, g CO2e per kWh. Source: Ember,
# via Our World in Data ("Carbon intensity of electricity generation"), the same data that
# codecarbon ships in its global_energy_mix.json; rounded to the gram. The world average is
# Ember's Global Electricity Review 2024 figure for 2023.
CARBON_INTENSITY_G_PER_KWH: dict[str, float] = {
    "AUS": 549.0,
    "BRA": 98.0,
    "CAN": 170.0,
    "CHN": 582.0,
    "DEU": 381.0,
    "ESP": 174.0,
    "FRA": 56.0,
    "GBR": 238.0,
    "IND": 713.0,
    "IRL": 291.0,
    "ITA": 331.0,
    "JPN": 485.0,
    "NLD": 268.0,
    "NOR": 30.0,
    "POL": 662.0,
    "SWE": 41.0,
    "USA": 369.0,
}
WORLD_CARBON_INTENSITY_G_PER_KWH = 480.0

_ISO3 = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class EnergyUse:
    """What a piece of work used.

    Attributes:
        wall_seconds: elapsed time.
        cpu_seconds: process CPU time (user + system, all threads, ended children included).
        peak_memory_mb: the process's resident-memory high-water mark, MiB.
        energy_kwh: electricity used, kWh.
        co2_kg: emissions of that electricity, kg CO2-equivalent.
        method: ``codecarbon`` (codecarbon read hardware energy counters),
            ``codecarbon-estimate`` (codecarbon, without counters: its CPU-load x TDP model)
            or ``estimate`` (modelkeep's own formula, see :mod:`modelkeep.energy.estimate`).
        country: 3-letter ISO code of the electricity grid assumed.
        carbon_intensity_g_per_kwh: the intensity behind ``co2_kg`` (NaN when no energy).
        tracked_seconds: how much of the wall time codecarbon measured; the rest (its
            one-off hardware probe, the first time in a process) is estimated.
    """

    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    energy_kwh: float
    co2_kg: float
    method: str
    country: str
    carbon_intensity_g_per_kwh: float = math.nan
    tracked_seconds: float = 0.0

    def as_metrics(self) -> dict[str, float]:
        """The run metrics: wall_seconds, cpu_seconds, peak_memory_mb, energy_kwh, co2_kg."""
        return {
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "peak_memory_mb": self.peak_memory_mb,
            "energy_kwh": self.energy_kwh,
            "co2_kg": self.co2_kg,
        }

    @property
    def resources(self) -> ResourceUse:
        """The time and memory part, as :class:`~modelkeep.energy.resources.ResourceUse`."""
        return ResourceUse(self.wall_seconds, self.cpu_seconds, self.peak_memory_mb)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None): the content of ``energy.json``."""
        return {k: _json_number(v) for k, v in asdict(self).items()}


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def resolve_country(value: str | None = None) -> str:
    """``value``, else ``MODELKEEP_ENERGY_COUNTRY``, else ``USA``; checked and upper-cased.

    Raises:
        InvalidInputError: not a 3-letter code (``field="country_iso_code"``).
    """
    raw = value if value is not None else os.environ.get(COUNTRY_ENV) or DEFAULT_COUNTRY
    code = raw.strip().upper()
    if not _ISO3.match(code):
        raise InvalidInputError(
            f"country_iso_code: expected a 3-letter ISO code such as FRA or USA, got {raw!r}",
            field="country_iso_code",
        )
    return code


def resolve_watts_per_core(value: float | None = None) -> float:
    """``value``, else ``MODELKEEP_ENERGY_WATTS_PER_CORE``, else 10 W; must be positive.

    Raises:
        InvalidInputError: not a positive finite number (``field="watts_per_core"``).
    """
    raw: Any = value if value is not None else os.environ.get(WATTS_PER_CORE_ENV)
    if raw is None or raw == "":
        return DEFAULT_WATTS_PER_CORE
    try:
        watts = float(raw)
    except (TypeError, ValueError):
        watts = math.nan
    if not math.isfinite(watts) or watts <= 0 or isinstance(raw, bool):
        raise InvalidInputError(
            f"watts_per_core: expected a positive number of watts, got {raw!r}",
            field="watts_per_core",
        )
    return watts


def carbon_intensity(country: str) -> float:
    """g CO2e per kWh of ``country``'s grid (the world average when the table lacks it)."""
    return CARBON_INTENSITY_G_PER_KWH.get(country.upper(), WORLD_CARBON_INTENSITY_G_PER_KWH)


def estimate_energy(
    cpu_seconds: float,
    wall_seconds: float = 0.0,
    peak_memory_mb: float = 0.0,
    *,
    country: str | None = None,
    watts_per_core: float | None = None,
) -> EnergyUse:
    """modelkeep's own estimate (``method="estimate"``) of the energy and CO2 of some work.

    Args:
        cpu_seconds: CPU time the work used.
        wall_seconds: its elapsed time (for the memory term).
        peak_memory_mb: memory held meanwhile, MiB (NaN counts as 0).
        country: 3-letter ISO code (see :func:`resolve_country`).
        watts_per_core: watts per busy core (see :func:`resolve_watts_per_core`).

    Example:
        >>> use = estimate_energy(3600.0, country="FRA", watts_per_core=10.0)
        >>> round(use.energy_kwh, 3), round(use.co2_kg, 5)
        (0.01, 0.00056)
    """
    code = resolve_country(country)
    watts = resolve_watts_per_core(watts_per_core)
    memory_gb = peak_memory_mb / 1024 if math.isfinite(peak_memory_mb) else 0.0
    joules = max(cpu_seconds, 0.0) * watts + memory_gb * RAM_WATTS_PER_GB * max(wall_seconds, 0.0)
    kwh = joules / _JOULES_PER_KWH
    intensity = carbon_intensity(code)
    return EnergyUse(
        wall_seconds=wall_seconds,
        cpu_seconds=cpu_seconds,
        peak_memory_mb=peak_memory_mb,
        energy_kwh=kwh,
        co2_kg=kwh * intensity / 1000,
        method="estimate",
        country=code,
        carbon_intensity_g_per_kwh=intensity,
    )
