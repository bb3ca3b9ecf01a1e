"""Promotion gates: the checks a challenger must pass before it may replace the champion.

A gate is a function ``GateContext -> GateResult``. Gates live in a table, the built-in ones
registered exactly as a user's would be (:func:`register_gate`). :func:`run_gates` runs every
enabled gate, never stopping at the first failure, so a decision record always explains every
reason; a gate that raises becomes a failed result naming the error.

Built-in gates, each switched by a field of the policy's ``gates`` section (a gate whose switch
is False, or whose number is None, does not run):

* ``improvement`` (``min_improvement``, ``require_significance``): the evaluation's improvement
  is at least ``min_improvement`` and, when asked, significant at ``alpha``.
* ``slices`` (``slice_tolerance``): no compared slice got worse by more than the tolerance.
* ``latency`` (``latency_p99_ms``, ``latency_ratio``): both versions are loaded and timed on
  single-row predictions from the holdout; the challenger's p99 is within the budget and within
  ``latency_ratio`` times the champion's p99. The timings are also written to
  ``evaluation.latency``.
* ``signature`` (``signature``): the challenger takes the same input columns, with the same
  dtypes, as the champion. modelkeep validates every request strictly (a missing *or* an
  unexpected column is refused), so a challenger that needs a column the champion does not take,
  or drops one it takes, would refuse the champion's traffic.
* ``integrity`` (``integrity``): the challenger's package still matches its registered digest;
  when the registered model requires signatures, a trusted signature must verify too.
* ``data_validation`` (``data_validation``): the refreshed data passed its validation rules.

Example:
    >>> results = run_gates(context)  # doctest: +SKIP
    >>> [(r.name, r.passed) for r in results]  # doctest: +SKIP
    [('improvement', True), ('slices', True), ('latency', True), ('signature', True), ...]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from modelkeep.exceptions import InvalidInputError, PackageIntegrityError

if TYPE_CHECKING:
    from modelkeep.entities import ModelVersion
    from modelkeep.maintain.evaluate import Evaluation
    from modelkeep.maintain.policy import GatesConfig
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature
    from modelkeep.tracking import Client

__all__ = [
    "GateContext",
    "GateFn",
    "GateResult",
    "gate_names",
    "measure_latency",
    "register_gate",
    "run_gates",
]

Role = Literal["champion", "challenger"]


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate.

    Attributes:
        name: the gate's name in the table.
        passed: whether the challenger passed it.
        detail: one line a person can read: why it passed or failed.
        values: the numbers behind the decision (JSON-safe).
    """

    name: str
    passed: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for the decision record."""
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "values": dict(self.values),
        }


@dataclass
class GateContext:
    """Everything a gate may look at.

    Attributes:
        client: the tracking client of the registry.
        model: the registered model's name.
        champion: the version in service.
        challenger: the candidate version.
        evaluation: the paired comparison of both on the holdout.
        holdout: the holdout's feature columns (no target), used for latency timing.
        config: the policy's ``gates`` section.
        data_validation: the refreshed data's validation summary (needs a ``passed`` key),
            or None when no rules apply.
        alpha: significance level for the ``improvement`` gate.
        latency_calls: single-row predictions timed per version by the ``latency`` gate.
        allow_code: passed to ``client.load_model`` when a gate loads a version.
        models: loaded versions by role (``"champion"``, ``"challenger"``); gates load a
            missing one with ``client.load_model`` and keep it here. Pass the models the
            evaluation already loaded to save loading them twice.
    """

    client: Client
    model: str
    champion: ModelVersion
    challenger: ModelVersion
    evaluation: Evaluation
    holdout: pd.DataFrame
    config: GatesConfig
    data_validation: dict[str, Any] | None = None
    alpha: float = 0.05
    latency_calls: int = 200
    allow_code: bool = False
    models: dict[str, LoadedModel] = field(default_factory=dict, repr=False)

    def loaded(self, role: Role) -> LoadedModel:
        """The champion or challenger loaded with ``client.load_model`` (once, then kept)."""
        if role not in self.models:
            version = self.champion if role == "champion" else self.challenger
            self.models[role] = self.client.load_model(version.uri, allow_code=self.allow_code)
        return self.models[role]


GateFn = Callable[[GateContext], GateResult]

_GATES: dict[str, GateFn] = {}
_SWITCHES: dict[str, Callable[[GatesConfig], bool]] = {}


def register_gate(name: str, fn: GateFn) -> None:
    """Add a gate to the table, or replace the one of that name (keeping its place and, for a
    built-in, its switch in the policy). A new gate runs every time :func:`run_gates` does.

    Raises:
        InvalidInputError: ``name`` is empty or ``fn`` is not callable.

    Example:
        >>> def small(context):  # doctest: +SKIP
        ...     size = context.challenger.tags.get("size_mb", "0")
        ...     return GateResult("small", float(size) < 50, f"{size} MB", {})
        >>> register_gate("small", small)  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("a gate needs a non-empty name", field="name")
    if not callable(fn):
        raise InvalidInputError(f"gate {name!r} must be callable", field="fn")
    _GATES[name] = fn


def gate_names() -> list[str]:
    """The registered gates' names, in the order :func:`run_gates` runs them."""
    return list(_GATES)


def run_gates(context: GateContext) -> list[GateResult]:
    """Run every enabled gate and return one result per gate, in table order.

    No gate stops the others: all run, so every failed condition is recorded. An exception in a
    gate becomes a failed result whose detail names it.
    """
    results: list[GateResult] = []
    for name, fn in list(_GATES.items()):
        switch = _SWITCHES.get(name)
        if switch is not None and not switch(context.config):
            continue
        try:
            result = fn(context)
        except Exception as exc:  # noqa: BLE001 - a broken gate fails, it never crashes the loop
            detail = f"gate raised {type(exc).__name__}: {exc}"
            results.append(GateResult(name, False, detail, {"error": type(exc).__name__}))
            continue
        if not isinstance(result, GateResult):
            detail = f"gate returned {type(result).__name__}, not a GateResult"
            result = GateResult(name, False, detail, {"error": "TypeError"})
        results.append(replace(result, name=name) if result.name != name else result)
    return results


def measure_latency(
    model: LoadedModel, rows: pd.DataFrame, *, calls: int = 200
) -> dict[str, float]:
    """Time ``calls`` single-row predictions (signature check included, as when serving).

    Rows are taken in turn from ``rows`` (cycling when there are fewer); one untimed call warms
    the model up first.

    Returns:
        ``p50_ms``, ``p99_ms``, ``mean_ms``, ``max_ms`` and ``calls``.

    Raises:
        InvalidInputError: ``rows`` is empty or ``calls`` is below 1.
    """
    if len(rows) == 0:
        raise InvalidInputError("latency needs at least one row to predict", field="rows")
    if calls < 1:
        raise InvalidInputError(f"calls must be at least 1, got {calls}", field="calls")
    singles = [rows.iloc[[index]] for index in range(min(len(rows), calls))]
    model.predict(singles[0])
    timings = np.empty(calls, dtype=np.float64)
    for index in range(calls):
        row = singles[index % len(singles)]
        started = time.perf_counter_ns()
        model.predict(row)
        timings[index] = (time.perf_counter_ns() - started) / 1e6
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p99_ms": float(np.percentile(timings, 99)),
        "mean_ms": float(timings.mean()),
        "max_ms": float(timings.max()),
        "calls": float(calls),
    }


# ---- built-in gates -------------------------------------------------------------------------


def improvement_gate(context: GateContext) -> GateResult:
    """The challenger improves on the champion by ``min_improvement``, significantly if asked."""
    config, evaluation = context.config, context.evaluation
    improvement = float(evaluation.improvement())
    minimum = config.min_improvement
    significant = bool(evaluation.significant(context.alpha))
    reasons: list[str] = []
    if not math.isfinite(improvement):
        reasons.append(f"the improvement of {evaluation.metric} is undefined on the holdout")
    elif minimum is not None and improvement < minimum:
        reasons.append(f"improvement {improvement:+.4g} is below the minimum {minimum:+.4g}")
    if config.require_significance and not significant:
        reasons.append(f"the difference is not significant at alpha={context.alpha:g}")
    values = {
        "metric": evaluation.metric,
        "champion": float(evaluation.champion),
        "challenger": float(evaluation.challenger),
        "improvement": improvement,
        "min_improvement": minimum,
        "significant": significant,
        "require_significance": bool(config.require_significance),
        "alpha": context.alpha,
    }
    if reasons:
        return GateResult("improvement", False, "; ".join(reasons), values)
    detail = f"{evaluation.metric} improves by {improvement:+.4g}"
    if config.require_significance:
        detail += f" (significant at alpha={context.alpha:g})"
    return GateResult("improvement", True, detail, values)


def slices_gate(context: GateContext) -> GateResult:
    """No compared slice is worse for the challenger by more than ``slice_tolerance``."""
    if context.config.slice_tolerance is None:
        return GateResult("slices", True, "no slice tolerance is set", {})
    tolerance = float(context.config.slice_tolerance)
    slices = list(context.evaluation.slices)
    worse = [s for s in slices if s.change < -tolerance]
    failing = [
        {"column": s.column, "value": s.value, "rows": s.rows, "change": float(s.change)}
        for s in worse
    ]
    values: dict[str, Any] = {"tolerance": tolerance, "slices": len(slices), "failing": failing}
    if not slices:
        return GateResult("slices", True, "no slices were compared", values)
    if worse:
        shown = ", ".join(f"{s.column}={s.value} ({s.change:+.4g})" for s in worse)
        detail = f"{len(worse)} slice(s) worse by more than {tolerance:g}: {shown}"
        return GateResult("slices", False, detail, values)
    worst = min(slices, key=lambda s: s.change)
    values["worst_change"] = float(worst.change)
    detail = f"{len(slices)} slices within {tolerance:g} (worst {worst.change:+.4g})"
    return GateResult("slices", True, detail, values)


def latency_gate(context: GateContext) -> GateResult:
    """The challenger's single-row p99 latency is within the budget and the champion ratio."""
    config = context.config
    timings = {
        role: measure_latency(context.loaded(role), context.holdout, calls=context.latency_calls)
        for role in ("champion", "challenger")
    }
    context.evaluation.latency.update(timings)
    p99, champion_p99 = timings["challenger"]["p99_ms"], timings["champion"]["p99_ms"]
    ratio = p99 / champion_p99 if champion_p99 > 0 else float("inf")
    reasons: list[str] = []
    if config.latency_p99_ms is not None and p99 > config.latency_p99_ms:
        reasons.append(f"p99 {p99:.3g} ms is over the budget of {config.latency_p99_ms:g} ms")
    if config.latency_ratio is not None and ratio > config.latency_ratio:
        reasons.append(
            f"p99 {p99:.3g} ms is {ratio:.3g}x the champion's {champion_p99:.3g} ms "
            f"(at most {config.latency_ratio:g}x)"
        )
    values = {
        "champion": timings["champion"],
        "challenger": timings["challenger"],
        "ratio": ratio,
        "budget_ms": config.latency_p99_ms,
        "max_ratio": config.latency_ratio,
    }
    if reasons:
        return GateResult("latency", False, "; ".join(reasons), values)
    detail = f"p99 {p99:.3g} ms ({ratio:.3g}x the champion's {champion_p99:.3g} ms)"
    return GateResult("latency", True, detail, values)


def signature_gate(context: GateContext) -> GateResult:
    """The challenger takes the same input columns, of the same dtypes, as the champion."""
    champion = context.loaded("champion").signature
    challenger = context.loaded("challenger").signature
    if champion is None and challenger is None:
        return GateResult("signature", True, "neither version has a signature", {})
    if champion is None or challenger is None:
        missing = "champion" if champion is None else "challenger"
        detail = f"the {missing} has no signature, so the inputs cannot be compared"
        return GateResult("signature", False, detail, {"missing": missing})
    problems = _signature_problems(champion, challenger)
    values = {"problems": problems, "inputs": [spec.name for spec in challenger.inputs]}
    if problems:
        return GateResult("signature", False, "; ".join(problems), values)
    return GateResult("signature", True, "the challenger takes the champion's inputs", values)


def _signature_problems(champion: ModelSignature, challenger: ModelSignature) -> list[str]:
    if champion.input_kind != challenger.input_kind:
        return [f"input kind changed from {champion.input_kind} to {challenger.input_kind}"]
    if champion.input_tensor is not None or challenger.input_tensor is not None:
        if champion.input_tensor != challenger.input_tensor:
            return [
                f"tensor input changed from {champion.input_tensor} to {challenger.input_tensor}"
            ]
        return []
    old = {spec.name: spec for spec in champion.inputs}
    new = {spec.name: spec for spec in challenger.inputs}
    problems = []
    for name, spec in new.items():
        if name not in old:
            needs = "accepts nulls" if spec.nullable else "required"
            problems.append(f"the challenger needs column {name!r} ({needs}) the champion lacks")
        elif old[name].dtype != spec.dtype:
            problems.append(
                f"column {name!r} changed dtype from {old[name].dtype} to {spec.dtype}"
            )
        elif old[name].nullable and not spec.nullable:
            problems.append(f"column {name!r} accepts nulls for the champion, not the challenger")
    problems.extend(
        f"the challenger does not take the champion's column {name!r}"
        for name in old
        if name not in new
    )
    return problems


def integrity_gate(context: GateContext) -> GateResult:
    """The challenger's package matches its registered digest; signed when that is required."""
    uri = context.challenger.uri
    required = context.client.get_registered_model(context.challenger.name).require_signatures
    try:
        report = context.client.verify_model_version(uri)
    except PackageIntegrityError as exc:
        values = {"require_signatures": required, "error": exc.message}
        return GateResult("integrity", False, f"{uri} failed verification: {exc}", values)
    values = {
        "root_digest": report.root_digest,
        "ok": report.ok,
        "signatures": len(report.signatures),
        "require_signatures": required,
    }
    if required and not report.ok:
        detail = f"{uri} needs a signature by a trusted key and has none that verifies"
        return GateResult("integrity", False, detail, values)
    signed = "a trusted signature verifies" if report.ok else "no trusted signature"
    return GateResult("integrity", True, f"{uri} matches its registered digest; {signed}", values)


def data_validation_gate(context: GateContext) -> GateResult:
    """The refreshed data passed its validation rules (passes when there were none)."""
    summary = context.data_validation
    if summary is None:
        return GateResult("data_validation", True, "no rules", {})
    if "passed" not in summary:
        raise InvalidInputError(
            "the data validation summary has no 'passed' key", field="data_validation"
        )
    passed = bool(summary["passed"])
    detail = "the refreshed data passed validation" if passed else "data validation failed"
    extra = summary.get("detail")
    problems = summary.get("problems")
    if isinstance(extra, str) and extra:
        detail += f": {extra}"
    elif isinstance(problems, list) and problems:
        detail += ": " + "; ".join(str(p) for p in problems[:5])
    return GateResult("data_validation", passed, detail, {"passed": passed})


def _builtin(name: str, fn: GateFn, switch: Callable[[GatesConfig], bool]) -> None:
    register_gate(name, fn)
    _SWITCHES[name] = switch


_builtin(
    "improvement",
    improvement_gate,
    lambda c: c.min_improvement is not None or bool(c.require_significance),
)
_builtin("slices", slices_gate, lambda c: c.slice_tolerance is not None)
_builtin(
    "latency",
    latency_gate,
    lambda c: c.latency_p99_ms is not None or c.latency_ratio is not None,
)
_builtin("signature", signature_gate, lambda c: bool(c.signature))
_builtin("integrity", integrity_gate, lambda c: bool(c.integrity))
_builtin("data_validation", data_validation_gate, lambda c: bool(c.data_validation))
