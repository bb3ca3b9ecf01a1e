"""Maintenance policies: one YAML document per registered model saying when to retrain, how to
judge the challenger and how to roll it out.

A policy is read from YAML text, a ``.yaml`` file or a mapping with :func:`load_policy`; its
shape is checked with pydantic (unknown keys are errors) and every error names its dotted key
(``triggers.0.above``, ``rollout.steps``). Durations take text such as ``90s``, ``15m``,
``7d`` (see :func:`modelkeep.monitor.alert_rules_parse.parse_duration`) and are held in
seconds. Policies are stored on their registered model as the tag :data:`POLICY_TAG`
(:func:`store_policy`, :func:`stored_policies`).

Example:
    >>> policy = load_policy('''
    ... model: churn
    ... triggers:
    ...   - {kind: drift_share, above: 0.3}
    ...   - {kind: schedule, every: 7d}
    ... ''')
    >>> policy.triggers[1].every
    604800.0
    >>> policy.rollout.mode
    'direct'
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.monitor.alert_rules_parse import Duration, read_rules_source
from modelkeep.monitor.channels import invalid_from_validation
from modelkeep.train.metrics import METRICS, greater_is_better

if TYPE_CHECKING:
    from modelkeep.tracking import Client

__all__ = [
    "POLICY_TAG",
    "EvaluationSpec",
    "GatesConfig",
    "Policy",
    "RetrainSpec",
    "RolloutSpec",
    "TriggerSpec",
    "duration_text",
    "load_policy",
    "policy_text",
    "store_policy",
    "stored_policies",
]

POLICY_TAG = "modelkeep.maintain.policy"
"""The registered-model tag holding the model's policy as YAML text."""

_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))

# Which optional keys each built-in trigger kind needs (required) and accepts (allowed).
# Performance triggers take ``below`` or ``above`` depending on the metric's direction.
_KIND_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "drift_share": (frozenset({"above"}), frozenset({"above"})),
    "feature_drift": (frozenset({"feature", "above"}), frozenset({"feature", "above"})),
    "performance": (frozenset({"metric"}), frozenset({"metric", "above", "below", "band"})),
    "schedule": (frozenset({"every"}), frozenset({"every"})),
    "new_labels": (frozenset({"at_least"}), frozenset({"at_least"})),
    "manual": (frozenset(), frozenset()),
}


def _exact_duration(seconds: float) -> str | None:
    for unit, size in _UNITS:
        count = seconds / size
        if seconds >= size and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return "0s" if seconds == 0 else None


def duration_text(seconds: float) -> str:
    """A duration in seconds as short text for people: exact when it is a small whole number
    of one unit (``604800`` -> ``"7d"``, ``5400`` -> ``"90m"``), else rounded to a tenth of the
    largest unit it reaches (``11823`` -> ``"3.3h"``).

    Example:
        >>> duration_text(86400 * 7), duration_text(90), duration_text(0.25), duration_text(11823)
        ('7d', '90s', '250ms', '3.3h')
    """
    exact = _exact_duration(seconds)
    if exact is not None and len(exact.rstrip("dhms")) <= 3:
        return exact
    unit, size = next(((u, n) for u, n in _UNITS if seconds >= n), ("s", 1.0))
    return f"{seconds / size:.1f}{unit}" if seconds >= size else f"{seconds:.2g}s"


def _duration_out(seconds: float) -> str | float:
    # YAML output must read back to the same number: text only when it is exact.
    return _exact_duration(seconds) or seconds


_Duration = Annotated[Duration, PlainSerializer(_duration_out, when_used="json")]
_Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TriggerSpec(_Spec):
    """One condition that starts a retrain (see :mod:`modelkeep.maintain.triggers`).

    Built-in kinds and their keys: ``drift_share`` (``above``), ``feature_drift``
    (``feature``, ``above``), ``performance`` (``metric``; ``below`` for a metric where higher
    is better, ``above`` for rmse, mae and log_loss; ``band``), ``schedule`` (``every``),
    ``new_labels`` (``at_least``) and ``manual``. A kind registered with
    :func:`~modelkeep.maintain.triggers.register_trigger` may use any key, and ``options``
    for its own settings.
    """

    model_config = ConfigDict(validate_default=True)

    kind: str
    feature: str | None = None
    metric: str | None = None
    above: float | None = None
    below: float | None = None
    band: bool | None = None
    every: _Duration | None = Field(default=None, gt=0)
    at_least: int | None = Field(default=None, ge=1)
    options: dict[str, Any] = {}

    @property
    def uses_band(self) -> bool:
        """Whether a performance trigger judges an estimate by its confidence band (the
        default) rather than its point value."""
        return self.band is not False

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from modelkeep.maintain.triggers import trigger_kinds

        kinds = trigger_kinds()
        if kind not in kinds:
            raise ValueError(
                f"unknown trigger kind (expected one of {', '.join(kinds)}, or a kind "
                "registered with register_trigger)"
            )
        return kind

    @field_validator("feature", "metric", "above", "below", "band", "every", "at_least")
    @classmethod
    def _key_fits_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind, name = info.data.get("kind"), str(info.field_name)
        if kind not in _KIND_KEYS:
            return value
        required, allowed = _KIND_KEYS[kind]
        if value is not None and name not in allowed:
            raise ValueError(f"not used by a {kind} trigger")
        if value is None and name in required:
            raise ValueError(f"required for a {kind} trigger (got no value)")
        if kind == "performance" and name == "metric":
            _check_metric(value)
        if kind == "performance" and name in ("above", "below"):
            _check_direction(info.data.get("metric"), name, value, info.data.get("above"))
        return value

    @field_validator("options")
    @classmethod
    def _options_for_plugins(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if value and info.data.get("kind") in _KIND_KEYS:
            raise ValueError(f"only for trigger kinds from plugins, not {info.data['kind']}")
        return value


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric (expected one of {', '.join(METRICS)})")


def _check_direction(metric: Any, key: str, value: float | None, above: float | None) -> None:
    """The threshold key must match the metric's direction: ``below`` where higher is better,
    ``above`` where lower is better. ``above`` is checked first, so a missing threshold is
    reported on ``below`` (naming the key that is needed)."""
    if metric not in METRICS:
        return  # the metric's own error is reported
    wanted = "below" if greater_is_better(metric) else "above"
    direction = "higher" if wanted == "below" else "lower"
    if key != wanted and value is not None:
        raise ValueError(
            f"{direction} is better for {metric}: give '{wanted}' (fires when {metric} "
            f"goes {wanted} it)"
        )
    if key == "below" and value is None and above is None:
        raise ValueError(
            f"a performance trigger on {metric} ({direction} is better) needs '{wanted}' "
            "(got no value)"
        )


class RetrainSpec(_Spec):
    """How the refreshed training data is built.

    Attributes:
        window: recent labeled production rows used, in seconds.
        weight: sample weight of production rows relative to the original ones.
        include_original: train on the original training data too.
        holdout: share of the recent labeled rows kept out of training to evaluate both
            models on.
        min_rows: with fewer recent labeled rows the retrain is skipped (and recorded).
        tune_trials: rerun the champion's tuning study config (``tune.yaml`` of the study
            that produced it) with this many trials on the refreshed data, instead of
            retraining its best configuration (None).
    """

    window: _Duration = Field(default=7 * 86400.0, gt=0)
    weight: float = Field(default=1.0, gt=0, le=100)
    include_original: bool = True
    holdout: float = Field(default=0.3, gt=0, lt=1)
    min_rows: int = Field(default=50, ge=1)
    tune_trials: int | None = Field(default=None, ge=1, le=10_000)


class EvaluationSpec(_Spec):
    """How champion and challenger are compared on the holdout.

    Attributes:
        metric: the metric compared (None: the training config's primary metric).
        slices: columns whose values (or quantile bins) are compared one by one.
        alpha: significance level of the paired test.
        bootstrap: resamples of the paired bootstrap (at least 100).
    """

    metric: str | None = None
    slices: list[str] = []
    alpha: float = Field(default=0.05, gt=0, lt=1)
    bootstrap: int = Field(default=1000, ge=100, le=100_000)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str | None) -> str | None:
        if metric is not None:
            _check_metric(metric)
        return metric


class GatesConfig(_Spec):
    """Promotion gates; every enabled gate must pass (see :mod:`modelkeep.maintain.gates`).

    Attributes:
        min_improvement: least improvement of the metric (improvement-oriented, >= 0).
        require_significance: the improvement must also be significant at ``alpha``.
        slice_tolerance: no slice may get worse by more than this.
        latency_p99_ms: the challenger's single-row p99 latency budget (None: no budget).
        latency_ratio: the challenger's p99 may be at most this times the champion's
            (None: not compared).
        signature: the challenger takes the champion's inputs (same columns, types and
            nullability), so the champion's callers keep working.
        integrity: the challenger's package (and signature, when required) must verify.
        data_validation: the refreshed data must pass the model's validation rules.
        latency_calls: single-row predictions timed per version by the latency gate.
    """

    min_improvement: float = Field(default=0.0, ge=0)
    require_significance: bool = True
    slice_tolerance: float = Field(default=0.05, ge=0)
    latency_p99_ms: float | None = Field(default=None, gt=0)
    latency_ratio: float | None = Field(default=3.0, gt=0)
    signature: bool = True
    integrity: bool = True
    data_validation: bool = True
    latency_calls: int = Field(default=200, ge=10, le=10_000)


class RolloutSpec(_Spec):
    """How a challenger that passed the gates replaces the champion.

    Attributes:
        mode: ``direct`` (move the champion alias) or ``canary`` (ramp traffic by ``steps``).
        steps: increasing canary weights in (0, 1], the last one 1.0.
        min_requests: canary requests per step before the step is judged.
        step_timeout: seconds to wait for ``min_requests`` before the rollout is abandoned.
        max_error_rate: the canary's error rate above this rolls back.
        max_latency_ratio: canary p99 over primary p99 above this rolls back.
        max_metric_drop: realized metric of the canary worse than the primary's by more than
            this rolls back (when both have labels).
        poll: seconds between looks at the live statistics.
    """

    mode: Literal["direct", "canary"] = "direct"
    steps: list[float] = Field(default=[0.1, 0.5, 1.0], min_length=1)
    min_requests: int = Field(default=100, ge=1)
    step_timeout: _Duration = Field(default=600.0, gt=0)
    max_error_rate: _Share = 0.02
    max_latency_ratio: float = Field(default=3.0, gt=0)
    max_metric_drop: float = Field(default=0.05, ge=0)
    poll: _Duration = Field(default=2.0, gt=0)

    @field_validator("steps")
    @classmethod
    def _ramp(cls, steps: list[float]) -> list[float]:
        if any(not 0 < step <= 1 for step in steps):
            raise ValueError("each step is a traffic share in (0, 1]")
        if any(later <= earlier for earlier, later in pairwise(steps)):
            raise ValueError("steps must increase")
        if steps[-1] != 1.0:
            raise ValueError("the last step must be 1.0 (all traffic)")
        return steps


class Policy(_Spec):
    """A registered model's maintenance policy (the YAML document, checked).

    Any one trigger firing starts a retrain; see the module docstring for the document.
    """

    model: str = Field(min_length=1)
    champion_alias: str = Field(default="champion", min_length=1)
    challenger_alias: str = Field(default="challenger", min_length=1)
    triggers: list[TriggerSpec] = Field(min_length=1)
    retrain: RetrainSpec = RetrainSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    gates: GatesConfig = GatesConfig()
    rollout: RolloutSpec = RolloutSpec()

    @field_validator("champion_alias", "challenger_alias")
    @classmethod
    def _registry_alias(cls, alias: str) -> str:
        from modelkeep.store.registry_validation import check_alias

        try:
            return check_alias(alias)
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None

    @field_validator("challenger_alias")
    @classmethod
    def _distinct_aliases(cls, alias: str, info: ValidationInfo) -> str:
        if alias == info.data.get("champion_alias"):
            raise ValueError("must differ from champion_alias")
        return alias


def load_policy(source: str | Path | Mapping[str, Any]) -> Policy:
    """A policy from YAML text, a YAML file (a :class:`~pathlib.Path` or a one-line string
    ending in ``.yaml``/``.yml``) or a mapping.

    Raises:
        InvalidInputError: the file is missing or the YAML does not parse (``field="policy"``),
            or a key is wrong (``field`` is its dotted path, e.g. ``triggers.0.above``).
    """
    try:
        document = read_rules_source(source)
    except InvalidInputError as exc:
        raise InvalidInputError(_policy_message(exc.message), field="policy") from None
    try:
        return Policy.model_validate(dict(document))
    except ValidationError as exc:
        raise invalid_from_validation(exc, "", model=Policy) from None


def _policy_message(message: str) -> str:
    # The reader is shared with alert rules; say "policy" where it says "rules".
    if "expected a mapping" in message:
        return "policy: expected a mapping with 'model' and 'triggers'"
    return "policy" + message.removeprefix("rules")


def policy_text(policy: Policy) -> str:
    """The policy as YAML, every setting spelled out (defaults included) and durations as
    text; :func:`load_policy` reads it back to an equal policy."""
    document = policy.model_dump(mode="json")
    document["triggers"] = [
        trigger.model_dump(mode="json", exclude_defaults=True) for trigger in policy.triggers
    ]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def store_policy(client: Client, source: str | Path | Mapping[str, Any] | Policy) -> Policy:
    """Check a policy and store it on its registered model (tag :data:`POLICY_TAG`), replacing
    the one stored before.

    The stored text is :func:`policy_text` of the checked policy, so defaults are fixed at the
    time of storing.

    Args:
        client: the tracking client whose registry holds the model.
        source: YAML text, a YAML file, a mapping or a :class:`Policy`.

    Returns:
        The policy stored.

    Raises:
        InvalidInputError: the policy does not check (``field`` names the key).
        NotFoundError: (``field="model"``) no registered model has the policy's ``model``.
    """
    policy = source if isinstance(source, Policy) else load_policy(source)
    try:
        client.get_registered_model(policy.model)
    except NotFoundError:
        raise NotFoundError(
            f"model: no registered model named {policy.model!r}; register the model before "
            "storing its policy",
            field="model",
        ) from None
    client.store.set_registered_model_tag(policy.model, POLICY_TAG, policy_text(policy))
    return policy


def stored_policies(client: Client) -> list[Policy]:
    """The policy of every registered model that has one, by model name.

    Raises:
        InvalidInputError: a stored policy no longer checks (edited by hand, or from a kind of
            trigger not registered in this process); the message names the model.
    """
    found: list[Policy] = []
    token: str | None = None
    while True:
        page = client.search_registered_models(
            f'tags."{POLICY_TAG}" IS NOT NULL', max_results=1000, page_token=token
        )
        for registered in page:
            found.append(_read_stored(registered.name, registered.tags[POLICY_TAG]))
        token = page.next_page_token
        if token is None:
            return found


def _read_stored(model: str, text: str) -> Policy:
    where = f"the policy stored on model {model!r} (tag {POLICY_TAG})"
    try:
        # A newline keeps a one-line tag value from being read as a file name.
        policy = load_policy(text if "\n" in text else text + "\n")
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc.message}", field=exc.field) from None
    if policy.model != model:
        raise InvalidInputError(
            f"{where} names model {policy.model!r}; store it again with store_policy",
            field="model",
        )
    return policy
