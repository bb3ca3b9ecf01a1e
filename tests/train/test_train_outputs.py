"""Plots are PNG images; the resource meter measures; families build seeded estimators."""

from __future__ import annotations

import time

import numpy as np
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.train import GradientDescentRegressor, plots
from modelkeep.train.families import FAMILIES, make_estimator
from modelkeep.train.resources import ResourceMeter

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_png() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    proba = rng.dirichlet([1.0, 1.0, 1.0], 60)

    images = [
        plots.confusion_matrix_png(y, (y + 1) % 3, [0, 1, 2]),
        plots.roc_curve_png(y, proba, [0, 1, 2]),
        plots.roc_curve_png(y % 2, proba[:, :2], [0, 1]),
        plots.residuals_png(y.astype(float), y + rng.normal(size=60)),
        plots.feature_importance_png([f"f{i}" for i in range(30)], rng.random(30)),
    ]

    assert all(image.startswith(PNG) and len(image) > 1000 for image in images)


def test_same_plot_same_bytes() -> None:
    y = np.array([0, 1, 1, 0, 1])

    assert plots.confusion_matrix_png(y, y, [0, 1]) == plots.confusion_matrix_png(y, y, [0, 1])


def test_resource_meter_counts_cpu_and_wall_time() -> None:
    with ResourceMeter() as meter:
        # Burn a known amount of this process's CPU time (wall time would not do on a
        # loaded machine, where a busy loop may get only a share of a core).
        started = time.process_time()
        while time.process_time() - started < 0.05:
            sum(range(1000))

    use = meter.use
    assert use.wall_time_s >= 0.05
    assert use.cpu_time_s >= 0.045
    assert use.peak_memory_mb > 10
    assert set(use.as_metrics()) == {"wall_time_s", "cpu_time_s", "peak_memory_mb"}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_builds_for_its_tasks(family: str) -> None:
    for task in FAMILIES[family].tasks:
        estimator = make_estimator(family, task, {}, seed=3)
        params = estimator.get_params()
        if FAMILIES[family].seeded:
            assert params["random_state"] == 3


def test_params_override_family_defaults() -> None:
    estimator = make_estimator("logistic", "classification", {"max_iter": 50, "C": 0.5}, 0)

    assert estimator.max_iter == 50 and estimator.C == 0.5


def test_gradient_descent_family_is_the_modelkeep_regressor() -> None:
    estimator = make_estimator("gradient_descent", "regression", {"learning_rate": 0.1}, 0)

    assert isinstance(estimator, GradientDescentRegressor)
    assert estimator.learning_rate == 0.1


def test_unknown_parameter_of_a_boosting_library_is_named() -> None:
    with pytest.raises(InvalidInputError) as caught:
        make_estimator("lightgbm", "classification", {"n_estimator": 5}, 0)
    assert caught.value.field == "model.params.n_estimator"
