"""The stages of one policy evaluation after its triggers fired (see
:mod:`modelkeep.maintain.runner`): prepare the challenger, evaluate and gate it, roll it out.
Each stage writes what it found into the decision record and saves it, so a restart resumes
after the last finished stage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from modelkeep.config import Settings
from modelkeep.entities import ModelVersion
from modelkeep.maintain.decisions import DecisionRecord, save_decision
from modelkeep.maintain.policy import Policy, duration_text
from modelkeep.registry.loaded import LoadedModel
from modelkeep.tracking import Client
from modelkeep.train.config import TrainConfig

__all__ = ["Staged", "evaluate_and_gate", "log_state", "prepare_challenger", "roll_out"]

Progress = Callable[[str], None]
_log = logging.getLogger("modelkeep.maintain")


@dataclass
class Staged:
    """What the evaluation needs after the challenger exists."""

    challenger: ModelVersion
    holdout: pd.DataFrame
    features: list[str]
    target: str
    config: TrainConfig
    champion_model: LoadedModel
    validation: dict[str, Any]


def log_state(settings: Settings, model: str, since_ms: int | None, now: int) -> dict[str, int]:
    """What the inference log holds for ``model`` since ``since_ms``: predictions, labeled
    answers (``/feedback`` before ``now``) and the newest prediction's time. The same state
    means the same evidence: an evaluation is not repeated on it."""
    from modelkeep.exceptions import NotFoundError
    from modelkeep.maintain.refresh import _labels_before
    from modelkeep.serve.inference_read import read_feedback, read_inference_log

    try:
        log = read_inference_log(settings.home / "inference", model,
                                 since_ms=since_ms, until_ms=now + 1)  # fmt: skip
    except NotFoundError:
        return {"predictions": 0, "labeled": 0, "last_ms": 0}
    answers = log[log["variant"] != "shadow"]
    feedback = read_feedback(settings.home / "inference", model)
    labels = _labels_before(feedback, answers["request_id"], now + 1)
    last = answers["timestamp"].max() if len(answers) else None
    return {
        "predictions": int(answers["request_id"].nunique()),
        "labeled": int(answers.loc[labels.notna(), "request_id"].nunique()),
        "last_ms": int(pd.Timestamp(last).timestamp() * 1000) if last is not None else 0,
    }


def prepare_challenger(
    client: Client,
    settings: Settings,
    policy: Policy,
    record: DecisionRecord,
    champion: ModelVersion,
    now: int,
    say: Progress,
) -> Staged | None:
    """Refresh the data and retrain (or reuse the challenger a stopped run registered);
    None with ``record.action = "skipped"`` when there are too few recent labeled rows."""
    from modelkeep.maintain.refresh import production_rows, refresh_data
    from modelkeep.maintain.retrain import (
        find_retrained,
        original_data,
        retrain_challenger,
        training_config,
    )

    config = training_config(client, champion)
    champion_model = client.load_model(champion.uri)
    features = _features(champion_model, config)
    trained_ms = int(client.get_run(champion.run_id).start_time) if champion.run_id else 0
    # A resumed record reuses its bounds so the holdout is the same rows as before.
    until = int(record.data.get("until_ms", now + 1))
    since = int(record.data.get("since_ms", max(now - policy.retrain.window * 1000, trained_ms)))
    root = settings.home / "inference"
    production = production_rows(root, policy.model, features, config.target,
                                 since_ms=since, until_ms=until)  # fmt: skip
    if len(production) < policy.retrain.min_rows:
        record.action = "skipped"
        record.reason = (f"{len(production)} labeled production rows in the last "
                         f"{duration_text(policy.retrain.window)} (retrain.min_rows is "
                         f"{policy.retrain.min_rows})")  # fmt: skip
        return None
    original = None
    if policy.retrain.include_original:
        original = original_data(config, [*features, config.target])
    config, original = _keep_weighting(config, original)
    refreshed = refresh_data(
        original, production, target=config.target, holdout_share=policy.retrain.holdout,
        weight=policy.retrain.weight, seed=config.seed, task=config.task,
    )  # fmt: skip
    validation = validate_refreshed(refreshed.train, production, features, config, original)
    record.data = {**record.data, **refreshed.sources, "since_ms": since, "until_ms": until,
                   "original_data": config.data.train if original is not None else None,
                   "validation": validation}  # fmt: skip
    if record.challenger_version is None:
        found = find_retrained(client, policy.model, record.run_id)
        if found is not None:  # registered before a stop, the record not saved yet
            record.challenger_version = int(found.version)
    if record.challenger_version is None:
        say(f"{policy.model}: retraining on {len(refreshed.train)} rows "
            f"({len(production)} recent labeled production rows)")  # fmt: skip
        version, run_id = retrain_challenger(
            client, config.model_copy(update={"features": features}), refreshed.train,
            home=settings.home, champion=champion, challenger_alias=policy.challenger_alias,
            lineage={"decision": record.run_id, "original_data": record.data["original_data"],
                     "production_rows": len(production), "production_since_ms": since,
                     "production_until_ms": until},
            **_tuning(client, policy, champion),
        )  # fmt: skip
        record.challenger_version = int(version.version)
        record.data["training_run"] = run_id
        save_decision(client, record)
    else:
        version = client.get_model_version(policy.model, record.challenger_version)
    return Staged(version, refreshed.holdout, features, config.target, config, champion_model,
                  validation)  # fmt: skip


def _tuning(client: Client, policy: Policy, champion: ModelVersion) -> dict[str, Any]:
    """``retrain_challenger``'s tuning arguments: the champion's study config when the policy
    asks to retune (``retrain.tune_trials``) and the champion came from a study."""
    from modelkeep.maintain.retrain import tuning_config

    trials = policy.retrain.tune_trials
    if trials is None:
        return {}
    found = tuning_config(client, champion)
    if found is None:
        _log.warning("%s v%s was not tuned: retraining its config instead of retuning",
                     champion.name, champion.version)  # fmt: skip
        return {}
    return {"tuning": found, "tune_trials": trials}


def _keep_weighting(
    config: TrainConfig, original: pd.DataFrame | None
) -> tuple[TrainConfig, pd.DataFrame | None]:
    """Production rows are weighted by repetition, which the training's own duplicate
    removal would undo: the original rows are deduplicated here (in place of the training)
    and the retrain keeps the repeated rows. The paired evaluation is unaffected (its holdout
    never contains training rows)."""
    from modelkeep.data.cleaning_config import parse_cleaning

    if not parse_cleaning(config.cleaning).drop_duplicates:
        return config, original
    if original is not None:
        original = original.drop_duplicates(ignore_index=True)
    cleaning = {**config.cleaning, "drop_duplicates": False}
    return config.model_copy(update={"cleaning": cleaning}), original


def _features(model: LoadedModel, config: TrainConfig) -> list[str]:
    signature = model.signature
    if signature is not None and signature.input_kind == "dataframe":
        return [column.name for column in signature.inputs]
    if config.features:
        return list(config.features)
    raise ValueError("the champion has no column signature and its config lists no features")


def validate_refreshed(
    train: pd.DataFrame,
    production: pd.DataFrame,
    features: list[str],
    config: TrainConfig,
    original: pd.DataFrame | None,
) -> dict[str, Any]:
    """The refreshed data's checks: every feature has values in the production rows, and a
    classifier's production labels are classes it was trained on."""
    problems = []
    for name in features:
        if name in production and production[name].isna().all():
            problems.append(f"feature {name!r} has no value in any production row")
    if config.task == "classification" and original is not None:
        known = {str(v) for v in original[config.target].dropna().unique()}
        unseen = sorted({str(v) for v in production[config.target].unique()} - known)
        if unseen:
            problems.append(f"labels never seen in training: {', '.join(unseen[:10])}")
    if train[config.target].isna().any():
        problems.append("rows without a label in the refreshed training table")
    return {"passed": not problems, "problems": problems, "rows": len(train)}


def evaluate_and_gate(
    client: Client,
    policy: Policy,
    record: DecisionRecord,
    champion: ModelVersion,
    staged: Staged,
    say: Progress,
) -> bool:
    """Score both on the holdout, run the gates; False (challenger withdrawn) if one fails."""
    import modelkeep.audit.privacy  # noqa: F401 - registers the "privacy" gate
    from modelkeep.maintain.evaluate import evaluate_pair
    from modelkeep.maintain.gates import GateContext, run_gates
    from modelkeep.maintain.rollout import withdraw

    challenger_model = client.load_model(staged.challenger.uri)
    metric = _metric(policy, staged, challenger_model)
    holdout = staged.holdout[[*staged.features, staged.target]]
    evaluation = evaluate_pair(
        staged.champion_model, challenger_model, holdout, staged.target,
        task=staged.config.task, metric=metric, slices=policy.evaluation.slices,
        n_boot=policy.evaluation.bootstrap, seed=staged.config.seed,
    )  # fmt: skip
    record.evaluation = evaluation.to_dict()
    say(f"{policy.model}: {metric} on {len(holdout)} holdout rows: champion "
        f"v{champion.version} {evaluation.champion:.4f}, challenger "
        f"v{staged.challenger.version} {evaluation.challenger:.4f}")  # fmt: skip
    context = GateContext(
        client, policy.model, champion, staged.challenger, evaluation,
        holdout[staged.features], policy.gates, data_validation=staged.validation,
        alpha=policy.evaluation.alpha, latency_calls=policy.gates.latency_calls,
        models={"champion": staged.champion_model, "challenger": challenger_model},
    )  # fmt: skip
    results = run_gates(context)
    record.gates = [result.to_dict() for result in results]
    failed = [r for r in results if not r.passed]
    for result in results:
        say(f"  gate {result.name}: {'passed' if result.passed else 'FAILED'} ({result.detail})")
    save_decision(client, record)
    if failed:
        record.reason = "gates failed: " + "; ".join(f"{r.name}: {r.detail}" for r in failed)
        withdraw(client, policy, reason=f"rejected: {record.reason}"[:500])
        return False
    return True


def _metric(policy: Policy, staged: Staged, challenger: LoadedModel) -> str:
    from modelkeep.train.metrics import METRICS

    metric = policy.evaluation.metric or staged.config.primary_metric
    spec = METRICS.get(metric)
    needs_proba = spec is not None and spec.needs_proba
    if needs_proba and not (staged.champion_model.has_proba and challenger.has_proba):
        return "accuracy" if staged.config.task == "classification" else "rmse"
    return metric


def roll_out(
    client: Client,
    settings: Settings,
    policy: Policy,
    record: DecisionRecord,
    server_url: str | None,
    say: Progress,
) -> tuple[str, str]:
    """Promote directly or through the canary; (action, reason) for the record."""
    from modelkeep.maintain.rollout import canary_rollout, promote, withdraw

    assert record.challenger_version is not None
    version = record.challenger_version
    if policy.rollout.mode == "direct":
        promote(client, policy, version, reason=f"maintenance decision {record.run_id}")
        say(f"{policy.model}: promoted v{version} to {policy.champion_alias}")
        return "promoted", f"v{version} passed every gate and was promoted directly"
    if server_url is None:
        withdraw(client, policy, reason="no server for the canary")
        return "rejected", "rollout.mode is canary but no inference server URL was given"

    def on_step(step: dict[str, Any]) -> None:
        record.rollout.append(step)
        save_decision(client, record)
        state = "passed" if step["passed"] else f"FAILED: {step['why']}"
        canary = step.get("canary") or {}
        say(f"  canary {step['weight']:.0%}: {canary.get('requests', 0)} requests, "
            f"{canary.get('errors', 0)} errors: {state}")  # fmt: skip

    evaluation = record.evaluation or {}
    metric = evaluation.get("metric")
    result = canary_rollout(client, policy, version, server_url=server_url,
                            inference_root=settings.home / "inference",
                            metric=metric if isinstance(metric, str) else None,
                            on_step=on_step)  # fmt: skip
    return result.outcome, result.reason
