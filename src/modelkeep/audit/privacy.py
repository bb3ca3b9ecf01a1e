"""``privacy_audit``: does a tabular model leak which rows it was trained on?

For ``privacy_audit("models:/churn/3", members, non_members, "churned")``, where ``members``
are rows of the model's training data and ``non_members`` rows it never saw:

1. the non-members are split in two disjoint halves: one is *evaluated* beside the members,
   the other is the *reference pool* (so no reference model ever trains on an evaluated row);
2. the **loss attack** scores every evaluated row by the model's confidence in its true label
   (minus the squared error for a regressor);
3. the **offline LiRA attack** trains ``reference_models`` copies of the model
   (``sklearn.base.clone`` of its native estimator or Pipeline, same type and parameters) on
   random stratified halves of the pool, fits a Gaussian to each evaluated row's
   logit-scaled confidence under them, and scores the row by how far the audited model's
   value lies above it (see :mod:`modelkeep.audit.membership`);
4. each attack gets ROC AUC, TPR at 1% and 0.1% FPR and the membership advantage, with
   bootstrap intervals. The report's headline numbers are the worst case over the attacks;
   it passes when every attack's AUC is at most ``max_auc`` and its advantage at most
   ``max_advantage``;
5. the report is stored as ``audit/privacy.json`` on the version's run, where the
   ``privacy`` promotion gate (registered here) reads it.

Small samples make the advantage look larger than it is: ``max(TPR - FPR)`` over all
thresholds is the two-sample Kolmogorov-Smirnov statistic, which a model that leaks nothing
still reaches by chance. The report states that chance level (``advantage_noise_floor``, the
95% KS critical value) and notes when it exceeds ``max_advantage``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelkeep.audit.membership import METRICS, AttackMetrics, MembershipAttacks
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.maintain.gates import GateContext, GateResult, register_gate

__all__ = ["PRIVACY_ARTIFACT", "PrivacyReport", "privacy_audit", "privacy_gate"]

PRIVACY_ARTIFACT = "audit/privacy.json"
"""Where the report is stored among the artifacts of the audited version's run."""


@dataclass(frozen=True)
class PrivacyReport:
    """The outcome of a membership inference audit.

    Attributes:
        auc, tpr_at_1pct_fpr, tpr_at_01pct_fpr, advantage: the worst case over the attacks.
        ci: per metric, the bootstrap interval of the attack that gave the headline value.
        passed: every attack's AUC <= ``max_auc`` and advantage <= ``max_advantage``.
        attacks: per attack (``loss``, ``lira_offline``), its metrics.
        n_members: members evaluated.
        n_non_members: non-members evaluated (not counting the reference pool).
        n_reference_rows: rows of the reference pool (0 without the LiRA attack).
        reference_models: reference models trained.
        max_auc, max_advantage: the thresholds applied.
        worst_attack: the attack with the highest AUC.
        advantage_noise_floor: the advantage reached by chance at these sample sizes (95%).
        task: ``classification`` or ``regression``.
        model_uri, run_id: what was audited and the run the report belongs to.
        notes: caveats a reader should see (sample sizes, interpolation).
    """

    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    advantage: float
    ci: dict[str, tuple[float, float]]
    passed: bool
    attacks: dict[str, AttackMetrics]
    n_members: int
    n_non_members: int
    n_reference_rows: int = 0
    reference_models: int = 0
    max_auc: float = 0.6
    max_advantage: float = 0.1
    worst_attack: str = ""
    advantage_noise_floor: float = 0.0
    task: str = "classification"
    model_uri: str = ""
    run_id: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the content of ``audit/privacy.json``)."""
        data: dict[str, Any] = {name: float(getattr(self, name)) for name in METRICS}
        data.update(
            ci={name: [lo, hi] for name, (lo, hi) in self.ci.items()},
            passed=self.passed,
            attacks={name: metrics.to_dict() for name, metrics in self.attacks.items()},
            n_members=self.n_members,
            n_non_members=self.n_non_members,
            n_reference_rows=self.n_reference_rows,
            reference_models=self.reference_models,
            max_auc=self.max_auc,
            max_advantage=self.max_advantage,
            worst_attack=self.worst_attack,
            advantage_noise_floor=self.advantage_noise_floor,
            task=self.task,
            model_uri=self.model_uri,
            run_id=self.run_id,
            notes=list(self.notes),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyReport:
        """The inverse of :meth:`to_dict`."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["ci"] = {str(k): (float(v[0]), float(v[1])) for k, v in data["ci"].items()}
        known["attacks"] = {k: AttackMetrics.from_dict(v) for k, v in data["attacks"].items()}
        known["notes"] = tuple(data.get("notes", ()))
        return cls(**known)


def privacy_audit(
    model_uri: str,
    members: Any,
    non_members: Any,
    target: str,
    *,
    reference_models: int = 4,
    max_auc: float = 0.6,
    max_advantage: float = 0.1,
    bootstrap: int = 200,
    seed: int = 0,
    record: bool = True,
    allow_code: bool = False,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
) -> PrivacyReport:
    """Run the membership inference audit of ``model_uri`` (see the module docstring).

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3`` or ``runs:/<id>/model``.
        members: rows the model was trained on (a path or DataFrame, with ``target``).
        non_members: rows from the same distribution it never saw (with ``target``).
        target: the label column.
        reference_models: models the LiRA attack trains (0: the loss attack only; else >= 2).
        max_auc: the highest attack AUC that passes.
        max_advantage: the highest membership advantage that passes.
        bootstrap: resamples behind each confidence interval (95%).
        seed: seeds the split, the reference halves and the bootstrap.
        record: store the report as ``audit/privacy.json`` on the version's run.
        allow_code: passed to ``Client.load_model``.
        tracking_uri: the store (default: the settings').
        settings: store settings (default: from the environment).

    Returns:
        The :class:`PrivacyReport`.

    Raises:
        InvalidInputError: a bad argument, missing target, too few rows, a model without
            probabilities, or one LiRA cannot copy (pass ``reference_models=0``).
        NotFoundError: an unknown model.

    Example:
        >>> report = privacy_audit("models:/churn/3", train, holdout, "churned")  # doctest: +SKIP
        >>> report.auc, report.passed  # doctest: +SKIP
        (0.93, False)
    """
    from modelkeep.data.io import read_table
    from modelkeep.tracking import Client

    _check_arguments(reference_models, max_auc, max_advantage, bootstrap)
    member_frame, outsider_frame = read_table(members), read_table(non_members)
    settings = settings or Settings()
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        run_id = client.resolve_model_uri(model_uri).run_id
        loaded = client.load_model(model_uri, allow_code=allow_code)
        audit = MembershipAttacks(loaded, target, np.random.default_rng(seed))
        attacks, sizes = audit.run(member_frame, outsider_frame, reference_models, bootstrap, seed)
        report = _report(attacks, sizes, max_auc, max_advantage, audit.task, model_uri, run_id)
        if record:
            body = json.dumps(report.to_dict(), indent=2, allow_nan=False).encode("utf-8")
            client.log_bytes(run_id, body, PRIVACY_ARTIFACT)
    return report


def _check_arguments(
    reference_models: int, max_auc: float, max_advantage: float, bootstrap: int
) -> None:
    if reference_models < 0 or reference_models == 1:
        raise InvalidInputError(
            f"reference_models must be 0 (loss attack only) or at least 2, got {reference_models}",
            field="reference_models",
        )
    if not 0.0 <= max_auc <= 1.0:
        raise InvalidInputError(f"max_auc must be in [0, 1], got {max_auc}", field="max_auc")
    if not 0.0 <= max_advantage <= 1.0:
        raise InvalidInputError(
            f"max_advantage must be in [0, 1], got {max_advantage}", field="max_advantage"
        )
    if bootstrap < 0:
        raise InvalidInputError(f"bootstrap must be >= 0, got {bootstrap}", field="bootstrap")


def _report(
    attacks: dict[str, AttackMetrics],
    sizes: dict[str, int],
    max_auc: float,
    max_advantage: float,
    task: str,
    model_uri: str,
    run_id: str,
) -> PrivacyReport:
    headline: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    for metric in METRICS:
        strongest = max(attacks.values(), key=lambda a: a.value(metric))
        headline[metric], ci[metric] = strongest.value(metric), strongest.ci[metric]
    passed = all(a.auc <= max_auc and a.advantage <= max_advantage for a in attacks.values())
    n_in, n_out = sizes["n_members"], sizes["n_non_members"]
    floor = 1.36 * math.sqrt(1.0 / n_in + 1.0 / n_out)
    return PrivacyReport(
        auc=headline["auc"],
        tpr_at_1pct_fpr=headline["tpr_at_1pct_fpr"],
        tpr_at_01pct_fpr=headline["tpr_at_01pct_fpr"],
        advantage=headline["advantage"],
        ci=ci,
        passed=passed,
        attacks=attacks,
        n_members=n_in,
        n_non_members=n_out,
        n_reference_rows=sizes["n_reference_rows"],
        reference_models=sizes["reference_models"],
        max_auc=max_auc,
        max_advantage=max_advantage,
        worst_attack=max(attacks, key=lambda name: attacks[name].auc),
        advantage_noise_floor=min(floor, 1.0),
        task=task,
        model_uri=model_uri,
        run_id=run_id,
        notes=tuple(_notes(n_out, floor, max_advantage)),
    )


def _notes(n_out: int, floor: float, max_advantage: float) -> list[str]:
    notes = [
        f"with {n_out} evaluated non-members the lowest measurable FPR is {1 / n_out:.3g}; "
        f"the TPR at {label} FPR is interpolated from the ROC below it"
        for fpr, label in ((0.01, "1%"), (0.001, "0.1%"))
        if 1 / n_out > fpr
    ]
    if floor > max_advantage:
        notes.append(
            f"at these sample sizes a model that leaks nothing reaches an advantage of "
            f"{floor:.3g} by chance (95%), above max_advantage {max_advantage:g}: audit more "
            "rows to certify it"
        )
    return notes


def privacy_gate(context: GateContext) -> GateResult:
    """Promotion gate: the challenger's stored privacy audit passed (passes when there is
    none)."""
    run_id = context.challenger.run_id
    if run_id is None:
        run_id = context.client.resolve_model_uri(context.challenger.uri).run_id
    try:
        body = context.client.read_artifact(run_id, PRIVACY_ARTIFACT)
    except NotFoundError:
        return GateResult("privacy", True, "not audited", {"audited": False})
    report = PrivacyReport.from_dict(json.loads(body))
    values = {
        "audited": True,
        "auc": report.auc,
        "advantage": report.advantage,
        "max_auc": report.max_auc,
        "max_advantage": report.max_advantage,
        "worst_attack": report.worst_attack,
    }
    numbers = (
        f"membership inference AUC {report.auc:.3g} (max {report.max_auc:g}), advantage "
        f"{report.advantage:.3g} (max {report.max_advantage:g}) by {report.worst_attack}"
    )
    verdict = "privacy audit passed" if report.passed else "privacy audit failed"
    return GateResult("privacy", report.passed, f"{verdict}: {numbers}", values)


register_gate("privacy", privacy_gate)
