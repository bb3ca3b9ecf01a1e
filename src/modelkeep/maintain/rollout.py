"""Putting a challenger in service: directly, or through the inference server's canary.

Direct promotion moves the champion alias to the challenger (the server, which follows the
alias, hot-reloads it) and removes the challenger alias.

A canary rollout needs a server started with ``--canary models:/NAME@challenger``. For each
weight of ``rollout.steps`` it sets the registered-model tag ``modelkeep.serve.canary_weight``,
waits until the server reports that weight, then until the canary has answered
``min_requests`` requests in this step (or ``step_timeout`` passes), and judges the step from
the server's live counts (``GET /version``): the canary's error rate must stay within
``max_error_rate`` and its p99 latency within ``max_latency_ratio`` times the primary's; where
labels have arrived for both variants' answers of this step, the canary's realized metric may
not fall more than ``max_metric_drop`` below the primary's. A failed step (or a step that
never saw enough traffic) rolls back: weight 0 and the challenger alias removed, the champion
untouched. When the last step (weight 1) passes, the challenger is promoted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelkeep.exceptions import ModelkeepError, NotFoundError
from modelkeep.maintain.policy import Policy, RolloutSpec
from modelkeep.tracking import Client
from modelkeep.train.metrics import MetricSpec

__all__ = ["CANARY_WEIGHT_TAG", "RolloutResult", "canary_rollout", "promote", "withdraw"]

CANARY_WEIGHT_TAG = "modelkeep.serve.canary_weight"
_MIN_LABELED = 30


@dataclass
class RolloutResult:
    """How a rollout ended: ``promoted`` or ``rolled_back``, why, and each step's numbers."""

    outcome: str
    reason: str
    steps: list[dict[str, Any]] = field(default_factory=list)


def promote(client: Client, policy: Policy, version: int, reason: str) -> None:
    """Point the champion alias at ``version``; forget the challenger alias and the canary
    weight."""
    client.set_alias(policy.model, policy.champion_alias, version, reason=reason)
    withdraw(client, policy, reason=f"promoted v{version}")


def withdraw(client: Client, policy: Policy, reason: str) -> None:
    """Stop the canary: weight 0, challenger alias removed (champion untouched)."""
    client.store.set_registered_model_tag(policy.model, CANARY_WEIGHT_TAG, "0")
    try:
        client.delete_alias(policy.model, policy.challenger_alias, reason)
    except NotFoundError:
        return


def canary_rollout(
    client: Client,
    policy: Policy,
    challenger: int,
    *,
    server_url: str,
    inference_root: Path,
    metric: str | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutResult:
    """Walk the canary through ``policy.rollout.steps`` (see the module docstring).

    Args:
        challenger: the challenger's version number (the challenger alias points at it).
        server_url: the inference server's base URL.
        inference_root: the inference log's folder (realized metrics per variant).
        metric: the metric compared on labeled answers (None: not compared).
        on_step: called with each step's record as soon as it is judged.
    """
    spec = policy.rollout
    steps: list[dict[str, Any]] = []
    with httpx.Client(base_url=server_url.rstrip("/"), timeout=10.0) as http:
        problem = _not_ready(http, server_url)
        if problem is not None:
            withdraw(client, policy, reason=f"canary not started: {problem}")
            return RolloutResult("rolled_back", problem, steps)
        try:
            for weight in spec.steps:
                step = _run_step(client, http, policy, challenger, weight, inference_root,
                                 metric, sleep)  # fmt: skip
                steps.append(step)
                if on_step is not None:
                    on_step(step)
                if not step["passed"]:
                    withdraw(client, policy, f"canary step {weight:g} failed: {step['why']}")
                    return RolloutResult("rolled_back", step["why"], steps)
        except BaseException:
            # Whatever stopped the rollout, the canary must not keep its traffic share.
            withdraw(client, policy, reason="canary interrupted")
            raise
    promote(client, policy, challenger, reason=f"canary passed {len(steps)} steps")
    return RolloutResult("promoted", f"canary passed {len(steps)} steps", steps)


def _not_ready(http: httpx.Client, server_url: str) -> str | None:
    """Why the server cannot run a canary (unreachable, or no ``--canary``), or None."""
    described = _version(http)
    if described is None:
        return f"the inference server at {server_url} does not answer GET /version"
    if "canary" not in described["variants"]:
        return f"the inference server at {server_url} was started without --canary"
    return None


def _run_step(
    client: Client,
    http: httpx.Client,
    policy: Policy,
    challenger: int,
    weight: float,
    inference_root: Path,
    metric: str | None,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    spec = policy.rollout
    client.store.set_registered_model_tag(policy.model, CANARY_WEIGHT_TAG, repr(float(weight)))
    deadline = time.monotonic() + spec.step_timeout
    start = _wait_for(http, deadline, spec.poll, sleep,
                      lambda v: _serving(v, str(challenger), weight))  # fmt: skip
    step: dict[str, Any] = {"weight": weight, "started_ms": int(time.time() * 1000)}
    if start is None:
        empty = {"requests": 0, "errors": 0, "rejected": 0, "error_rate": 0.0, "p99_ms": None}
        return {**step, "primary": dict(empty), "canary": dict(empty), "passed": False,
                "why": "the server did not take up the canary in time"}  # fmt: skip
    base = {name: dict(start["variants"].get(name) or {}) for name in ("primary", "canary")}
    end = _wait_for(http, deadline, spec.poll, sleep,
                    lambda v: _count(v, "canary") - base["canary"].get("requests", 0)
                    >= spec.min_requests)  # fmt: skip
    last = end or _version(http)
    step.update(_step_numbers(base, last or {}))
    step["realized"] = _realized(inference_root, policy.model, step["started_ms"], metric)
    step["finished_ms"] = int(time.time() * 1000)
    why = _verdict(spec, step, enough=end is not None)
    return {**step, "passed": why is None, "why": why or "ok"}


def _wait_for(
    http: httpx.Client,
    deadline: float,
    poll: float,
    sleep: Callable[[float], None],
    ready: Callable[[dict[str, Any]], bool],
) -> dict[str, Any] | None:
    while True:
        described = _version(http)
        if described is not None and ready(described):
            return described
        if time.monotonic() >= deadline:
            return None
        sleep(poll)


def _version(http: httpx.Client) -> dict[str, Any] | None:
    try:
        answer = http.get("/version")
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    body = answer.json()
    return body if isinstance(body, dict) and isinstance(body.get("variants"), dict) else None


def _serving(described: dict[str, Any], version: str, weight: float) -> bool:
    canary = described["variants"].get("canary") or {}
    return str(canary.get("version")) == version and math.isclose(
        float(canary.get("weight", -1)), weight, abs_tol=1e-9
    )


def _count(described: dict[str, Any], variant: str, key: str = "requests") -> int:
    return int((described["variants"].get(variant) or {}).get(key, 0))


def _step_numbers(base: dict[str, dict[str, Any]], last: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    variants = last.get("variants") or {}
    for name in ("primary", "canary"):
        now = variants.get(name) or {}
        requests = int(now.get("requests", 0)) - int(base[name].get("requests", 0))
        errors = int(now.get("errors", 0)) - int(base[name].get("errors", 0))
        rejected = int(now.get("rejected", 0)) - int(base[name].get("rejected", 0))
        out[name] = {
            "version": now.get("version"),
            "requests": requests,
            "errors": errors,
            "rejected": rejected,
            "error_rate": errors / requests if requests else 0.0,
            "rejected_rate": rejected / requests if requests else 0.0,
            "p99_ms": now.get("p99_ms"),
        }
    return out


def _verdict(spec: RolloutSpec, step: dict[str, Any], *, enough: bool) -> str | None:
    canary, primary = step["canary"], step["primary"]
    if not enough:
        return (f"only {canary['requests']} canary requests within the step timeout "
                f"(needed {spec.min_requests})")  # fmt: skip
    if canary["error_rate"] > spec.max_error_rate:
        return (f"canary error rate {canary['error_rate']:.2%} above "
                f"{spec.max_error_rate:.2%}")  # fmt: skip
    # Requests the primary answers but the canary refuses (4xx) are the canary's failures:
    # bad input is refused by both, so only the excess over the primary's rate counts.
    excess = canary["rejected_rate"] - primary["rejected_rate"]
    if excess > spec.max_error_rate:
        return (f"canary refuses {canary['rejected_rate']:.2%} of requests (primary "
                f"{primary['rejected_rate']:.2%}), more than {spec.max_error_rate:.2%} above "
                "the primary")  # fmt: skip
    c99, p99 = canary.get("p99_ms"), primary.get("p99_ms")
    if c99 is not None and p99 and c99 > spec.max_latency_ratio * p99:
        return f"canary p99 {c99:.1f} ms above {spec.max_latency_ratio:g} x primary {p99:.1f} ms"
    realized = step.get("realized") or {}
    if {"primary", "canary"} <= set(realized):
        drop = realized["primary"] - realized["canary"]
        drop = drop if realized["greater_is_better"] else -drop
        if drop > spec.max_metric_drop:
            return (f"canary {realized['metric']} {realized['canary']:.4f} is "
                    f"{drop:.4f} below the primary's {realized['primary']:.4f}")  # fmt: skip
    return None


def _realized(root: Path, model: str, since_ms: int, metric: str | None) -> dict[str, Any]:
    """Each variant's realized ``metric`` on its labeled answers since ``since_ms`` (only
    label-only metrics; a variant with fewer than 30 labeled answers is left out)."""
    if metric is None:
        return {}
    from modelkeep.serve.inference_read import join_feedback
    from modelkeep.train.metrics import METRICS

    spec = METRICS.get(metric)
    if spec is None or spec.needs_proba:
        return {}
    try:
        log = join_feedback(root, model, since_ms=since_ms)
    except (NotFoundError, ModelkeepError):
        return {}
    out: dict[str, Any] = {"metric": metric, "greater_is_better": spec.greater_is_better}
    for variant in ("primary", "canary"):
        rows = log[(log["variant"] == variant) & log["label"].notna()]
        if len(rows) >= _MIN_LABELED:
            out[variant] = _score(spec, rows)
            out[f"{variant}_rows"] = len(rows)
    return out


def _score(spec: MetricSpec, rows: Any) -> float:
    """The metric of the rows' predictions against their labels (labels may arrive as text
    or floats: they are compared in the predictions' type, else both as text)."""
    predictions = rows["prediction"].to_numpy()
    try:
        labels = rows["label"].to_numpy().astype(predictions.dtype)
    except (TypeError, ValueError):
        labels, predictions = rows["label"].astype(str).to_numpy(), predictions.astype(str)
    classes = sorted(set(labels.tolist()) | set(predictions.tolist()), key=str)
    return float(spec.score(labels, predictions, classes))
