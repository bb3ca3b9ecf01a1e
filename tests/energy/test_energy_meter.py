"""``EnergyMeter`` on real work: codecarbon's offline tracker when installed, the labelled
fallback estimate when it is not, countries, settings, and a tracker that leaves nothing behind
(no thread, no file)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from modelkeep.energy import (
    CARBON_INTENSITY_G_PER_KWH,
    EnergyMeter,
    estimate_energy,
    prepare_codecarbon,
)
from modelkeep.energy.resources import ResourceMeter
from modelkeep.exceptions import InvalidInputError

CODECARBON_METHODS = {"codecarbon", "codecarbon-estimate"}


@pytest.fixture(scope="module", autouse=True)
def probed() -> None:
    """codecarbon's one-off hardware probe, so every meter below is measured by it."""
    assert prepare_codecarbon() is True


def _work(rounds: int = 40) -> int:
    """Burn CPU: a fixed amount of arithmetic (~0.1-0.3 s)."""
    return sum(sum(range(50_000)) for _ in range(rounds))


def test_a_cpu_burning_loop_is_measured_by_codecarbon() -> None:
    with EnergyMeter("FRA") as meter:
        _work()

    use = meter.use
    assert use.method in CODECARBON_METHODS
    assert use.cpu_seconds > 0 and use.wall_seconds > 0 and use.peak_memory_mb > 10
    assert use.energy_kwh > 0 and use.co2_kg > 0
    assert use.country == "FRA" and use.tracked_seconds > 0
    assert set(use.as_metrics()) == {
        "wall_seconds",
        "cpu_seconds",
        "peak_memory_mb",
        "energy_kwh",
        "co2_kg",
    }


def test_the_country_changes_co2_per_kwh() -> None:
    intensity = {}
    for country in ("FRA", "USA"):
        with EnergyMeter(country) as meter:
            _work(10)
        intensity[country] = meter.use.co2_kg / meter.use.energy_kwh

    assert intensity["FRA"] < intensity["USA"] / 3  # French grid: mostly nuclear and hydro
    fr, us = estimate_energy(100.0, country="FRA"), estimate_energy(100.0, country="USA")
    assert fr.energy_kwh == us.energy_kwh and fr.co2_kg < us.co2_kg


def test_without_codecarbon_the_estimate_is_used_and_labelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # `import codecarbon` now fails

    with EnergyMeter("FRA", watts_per_core=20.0) as meter:
        _work()

    use = meter.use
    assert use.method == "estimate" and use.tracked_seconds == 0
    assert use.cpu_seconds > 0 and use.energy_kwh > 0
    memory_joules = use.peak_memory_mb / 1024 * 0.375 * use.wall_seconds
    assert use.energy_kwh == pytest.approx((use.cpu_seconds * 20.0 + memory_joules) / 3.6e6)
    assert use.co2_kg == pytest.approx(use.energy_kwh * CARBON_INTENSITY_G_PER_KWH["FRA"] / 1000)


def test_codecarbon_off_always_estimates() -> None:
    with EnergyMeter("USA", codecarbon="off") as meter:
        _work(5)

    assert meter.use.method == "estimate" and meter.use.energy_kwh > 0


def test_the_estimate_formula() -> None:
    one_core_hour = estimate_energy(3600.0, country="USA", watts_per_core=10.0)
    with_memory = estimate_energy(0.0, 3600.0, 8 * 1024, country="USA", watts_per_core=10.0)
    unknown = estimate_energy(3600.0, country="ATA")

    assert one_core_hour.energy_kwh == pytest.approx(0.01)
    assert one_core_hour.co2_kg == pytest.approx(0.01 * 0.369)
    assert with_memory.energy_kwh == pytest.approx(3.0 / 1000)  # 8 GB x 0.375 W for an hour
    assert unknown.carbon_intensity_g_per_kwh == 480.0  # the world average


def test_country_and_watts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELKEEP_ENERGY_COUNTRY", "swe")
    monkeypatch.setenv("MODELKEEP_ENERGY_WATTS_PER_CORE", "12.5")

    meter = EnergyMeter()

    assert (meter.country, meter.watts_per_core) == ("SWE", 12.5)
    assert EnergyMeter("DEU").country == "DEU"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"country_iso_code": "France"}, "country_iso_code"),
        ({"country_iso_code": "F1"}, "country_iso_code"),
        ({"watts_per_core": -1.0}, "watts_per_core"),
        ({"codecarbon": "sometimes"}, "codecarbon"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        EnergyMeter(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_the_tracker_leaves_no_thread_and_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # codecarbon writes emissions.csv to the working directory
    config = tmp_path / ".codecarbon.config"  # ...and reads settings from there: overruled
    config.write_text("[codecarbon]\nsave_to_file = true\nallow_multiple_runs = false\n")
    before = set(threading.enumerate())

    with EnergyMeter() as meter:
        _work(5)
        started = [t for t in threading.enumerate() if t not in before]

    assert meter.use.method in CODECARBON_METHODS
    assert started  # codecarbon's schedulers ran during the block...
    for thread in started:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in started)  # ...and ended with it
    assert list(tmp_path.iterdir()) == [config]


def test_stop_is_idempotent_and_start_stop_work_without_with() -> None:
    meter = EnergyMeter(codecarbon="off").start()
    _work(2)
    first = meter.stop()

    assert meter.stop() is first and meter.use is first


def test_children_cpu_is_counted_when_asked() -> None:
    with ResourceMeter(include_children=True) as both, ResourceMeter() as own:
        subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)

    assert both.use.cpu_time_s > own.use.cpu_time_s


# A fresh interpreter, where codecarbon has not probed the hardware yet.
_FIRST_USE = """
import json, sys
from modelkeep.energy import EnergyMeter
from modelkeep.energy.tracker import codecarbon_ready
heavy = sorted({"codecarbon", "pandas", "sklearn"} & set(sys.modules))

def work():
    return sum(range(200_000))

with EnergyMeter("FRA") as short:
    work()
with EnergyMeter("FRA") as late:
    while not codecarbon_ready():
        work()
    work()
with EnergyMeter("FRA") as warm:
    work()
print(json.dumps([heavy, short.use.to_dict(), late.use.to_dict(), warm.use.to_dict()]))
"""


@pytest.mark.slow
def test_the_first_meter_of_a_process_does_not_wait_for_the_hardware_probe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_USE], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    heavy, short, late, warm = json.loads(done.stdout)
    assert heavy == []  # importing modelkeep.energy stays light (the server imports it)
    assert short["method"] == "estimate" and short["tracked_seconds"] == 0
    assert late["method"] in CODECARBON_METHODS
    assert 0 < late["tracked_seconds"] < late["wall_seconds"]  # the probe's seconds estimated
    assert warm["method"] in CODECARBON_METHODS and warm["energy_kwh"] > 0
    assert done.stderr == ""  # codecarbon's logging stays quiet
