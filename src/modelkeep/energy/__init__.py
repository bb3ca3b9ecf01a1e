"""Energy and cost: time, CPU, memory, energy and CO2 of training, tuning, scoring and serving.

Measure a block with :class:`EnergyMeter` (codecarbon's offline tracker when installed, else
modelkeep's estimate; every result says which in ``method``), record it on a run with
:func:`log_energy`, compare a model's versions with :func:`compare_versions`. The inference
server reports CPU seconds and estimated energy per 1,000 predictions (:class:`ServingEnergy`).

Settings (environment): ``MODELKEEP_ENERGY_COUNTRY`` (3-letter ISO code of the grid, default
``USA``) and ``MODELKEEP_ENERGY_WATTS_PER_CORE`` (for the estimate, default 10).

Example:
    >>> from modelkeep.energy import EnergyMeter
    >>> with EnergyMeter(country_iso_code="FRA", codecarbon="off") as meter:
    ...     total = sum(range(100_000))
    >>> sorted(meter.use.as_metrics())
    ['co2_kg', 'cpu_seconds', 'energy_kwh', 'peak_memory_mb', 'wall_seconds']
"""

from __future__ import annotations

from modelkeep.energy.estimate import (
    CARBON_INTENSITY_G_PER_KWH,
    EnergyUse,
    carbon_intensity,
    estimate_energy,
)
from modelkeep.energy.meter import CodecarbonMode, EnergyMeter
from modelkeep.energy.record import (
    ENERGY_ARTIFACT,
    ENERGY_METRICS,
    TAG_ENERGY_COUNTRY,
    TAG_ENERGY_METHOD,
    compare_versions,
    log_energy,
)
from modelkeep.energy.serving import ServingEnergy
from modelkeep.energy.tracker import prepare_codecarbon

__all__ = [
    "CARBON_INTENSITY_G_PER_KWH",
    "ENERGY_ARTIFACT",
    "ENERGY_METRICS",
    "TAG_ENERGY_COUNTRY",
    "TAG_ENERGY_METHOD",
    "CodecarbonMode",
    "EnergyMeter",
    "EnergyUse",
    "ServingEnergy",
    "carbon_intensity",
    "compare_versions",
    "estimate_energy",
    "log_energy",
    "prepare_codecarbon",
]
