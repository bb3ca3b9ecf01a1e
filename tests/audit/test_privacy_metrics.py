"""Membership-inference metrics and attack scores on hand-made numbers, checked against
scikit-learn's ROC and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from modelkeep.audit.membership import (
    attack_metrics,
    lira_offline_scores,
    logit_confidence,
    roc_points,
    tpr_at_fpr,
    true_label_confidence,
)
from modelkeep.exceptions import InvalidInputError

# 200 members and 1,000 non-members with ties, so the ROC has steps and flat stretches.
_RNG = np.random.default_rng(7)
MEMBERS = np.round(_RNG.normal(0.6, 1.0, 200), 1)
NON_MEMBERS = np.round(_RNG.normal(0.0, 1.0, 1000), 1)


def _sklearn_roc() -> tuple[np.ndarray, np.ndarray]:
    labels = np.r_[np.ones(len(MEMBERS)), np.zeros(len(NON_MEMBERS))]
    fpr, tpr, _ = roc_curve(labels, np.r_[MEMBERS, NON_MEMBERS], drop_intermediate=False)
    return fpr, tpr


def test_roc_points_are_sklearns_roc_curve() -> None:
    fpr, tpr = roc_points(MEMBERS, NON_MEMBERS)
    expected_fpr, expected_tpr = _sklearn_roc()
    np.testing.assert_allclose(fpr, expected_fpr)
    np.testing.assert_allclose(tpr, expected_tpr)


def test_auc_and_advantage_match_sklearn() -> None:
    metrics = attack_metrics(MEMBERS, NON_MEMBERS, bootstrap=0)
    labels = np.r_[np.ones(len(MEMBERS)), np.zeros(len(NON_MEMBERS))]
    fpr, tpr = _sklearn_roc()
    assert metrics.auc == pytest.approx(roc_auc_score(labels, np.r_[MEMBERS, NON_MEMBERS]))
    assert metrics.advantage == pytest.approx(float(np.max(tpr - fpr)))
    assert (metrics.n_members, metrics.n_non_members) == (200, 1000)


def test_tpr_at_low_fpr_is_interpolated_on_sklearns_roc() -> None:
    fpr, tpr = _sklearn_roc()
    metrics = attack_metrics(MEMBERS, NON_MEMBERS, bootstrap=0)
    for target, value in ((0.01, metrics.tpr_at_1pct_fpr), (0.001, metrics.tpr_at_01pct_fpr)):
        below = np.flatnonzero(fpr <= target)[-1]
        above = np.flatnonzero(fpr > target)[0]
        share = (target - fpr[below]) / (fpr[above] - fpr[below])
        assert value == pytest.approx(tpr[below] + share * (tpr[above] - tpr[below]))


def test_tpr_at_fpr_by_hand() -> None:
    fpr = np.array([0.0, 0.0, 0.02, 0.02, 0.5, 1.0])
    tpr = np.array([0.0, 0.3, 0.5, 0.7, 0.9, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.01) == pytest.approx(0.4)  # halfway from 0.3 to 0.5
    assert tpr_at_fpr(fpr, tpr, 0.02) == pytest.approx(0.7)  # the top of a vertical step
    assert tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(0.3)
    assert tpr_at_fpr(fpr, tpr, 1.0) == pytest.approx(1.0)


def test_perfect_and_useless_attacks() -> None:
    perfect = attack_metrics([0.9, 0.8, 0.95], [0.1, 0.2, 0.3], bootstrap=0)
    assert (perfect.auc, perfect.advantage, perfect.tpr_at_01pct_fpr) == (1.0, 1.0, 1.0)
    useless = attack_metrics([0.5] * 4, [0.5] * 6, bootstrap=0)
    assert (useless.auc, useless.advantage) == (0.5, 0.0)
    assert useless.tpr_at_1pct_fpr == pytest.approx(0.01)  # the diagonal


def test_bootstrap_intervals_bracket_the_estimate_and_repeat_with_the_seed() -> None:
    metrics = attack_metrics(MEMBERS, NON_MEMBERS, bootstrap=200, seed=3)
    for name in ("auc", "tpr_at_1pct_fpr", "advantage"):
        low, high = metrics.ci[name]
        assert low <= metrics.value(name) <= high
        assert low < high
    assert 0.05 < metrics.ci["auc"][1] - metrics.ci["auc"][0] < 0.2
    assert attack_metrics(MEMBERS, NON_MEMBERS, bootstrap=200, seed=3).ci == metrics.ci
    assert metrics.bootstrap == 200


def test_metrics_round_trip_through_a_dict() -> None:
    metrics = attack_metrics(MEMBERS, NON_MEMBERS, bootstrap=20)
    assert type(metrics).from_dict(metrics.to_dict()) == metrics


@pytest.mark.parametrize(
    ("members", "non_members", "field"),
    [([], [0.1], "data"), ([0.2], [], "data"), ([np.nan], [0.1], "scores")],
)
def test_bad_scores_are_refused(
    members: list[float], non_members: list[float], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        attack_metrics(members, non_members)
    assert caught.value.field == field


def test_true_label_confidence_picks_the_labels_column() -> None:
    proba = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]])
    picked = true_label_confidence(proba, np.array(["no", "yes"]), ["yes", "no", "maybe"])
    np.testing.assert_allclose(picked, [0.9, 0.8, 0.0])  # an unseen label gets 0


def test_logit_confidence_is_finite_at_certainty() -> None:
    phi = logit_confidence([0.5, 0.9, 1.0, 0.0])
    assert phi[0] == pytest.approx(0.0)
    assert phi[1] == pytest.approx(np.log(9.0))
    assert np.isfinite(phi).all() and phi[2] == pytest.approx(-phi[3])


def test_lira_scores_rise_with_the_distance_above_the_out_distribution() -> None:
    reference = np.array([[0.0, 5.0, 0.0], [1.0, 6.0, 1.0], [-1.0, 4.0, -1.0]])
    scores = lira_offline_scores([0.0, 5.0, 3.0], reference)
    # rows 0 and 1 sit at their OUT means (p-value 1/2), row 2 three sigmas above its own.
    assert scores[0] == pytest.approx(np.log(2.0))
    assert scores[1] == pytest.approx(np.log(2.0))
    assert scores[2] > 5.0
    assert np.isfinite(lira_offline_scores([1e6], np.zeros((2, 1)))).all()


def test_lira_per_row_variance_uses_each_rows_spread() -> None:
    reference = np.array([[0.0, 0.0], [2.0, 0.2], [-2.0, -0.2]])
    fixed = lira_offline_scores([1.0, 1.0], reference, per_row_variance=False)
    own = lira_offline_scores([1.0, 1.0], reference, per_row_variance=True)
    assert fixed[0] == pytest.approx(fixed[1])  # one global variance: same distance, same score
    assert own[1] > own[0]  # the narrow row makes the same distance far more surprising


def test_lira_needs_two_reference_models() -> None:
    with pytest.raises(InvalidInputError) as caught:
        lira_offline_scores([0.0, 1.0], np.zeros((1, 2)))
    assert caught.value.field == "reference_models"
