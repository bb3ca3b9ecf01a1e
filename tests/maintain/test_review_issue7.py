"""Adversarial review of the maintenance loop (issue 7).

The first tests each pinned a bug the review found (all fixed since: canary take-up timeout,
holdout leak on resume, retraining on the same evidence, resumes after a crash, a model
without a champion, long names, a changed training file, absurd weights, nullability in the
signature gate, data-gate reasons, an undefined improvement, reserved aliases, a canary that
refuses requests); the later ones pin edge cases that were checked and found right.
Everything runs on real stores in ``tmp_path``: the fast world of ``maint_support`` (a trained
champion, shifted traffic with labels, a monitoring window), or tiny pyfunc models.
"""

from __future__ import annotations

import itertools
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from maint_support import FEATURES, aliases, build_world, make_rows, policy
from scipy.stats import binomtest, chi2
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelkeep.cli.app import app as cli_app
from modelkeep.config import Settings
from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain import watch_policies
from modelkeep.maintain.decisions import list_decisions, save_decision, start_decision
from modelkeep.maintain.evaluate import Evaluation
from modelkeep.maintain.gates import GateContext, run_gates
from modelkeep.maintain.policy import GatesConfig, load_policy, policy_text, store_policy
from modelkeep.maintain.retrain import (
    _write_rows,
    original_data,
    retrain_challenger,
    training_config,
)
from modelkeep.maintain.rollout import CANARY_WEIGHT_TAG, canary_rollout
from modelkeep.maintain.runner import evaluate_policy, run_policies
from modelkeep.maintain.stats import (
    BootstrapResult,
    mcnemar_test,
    metric_on_resamples,
    paired_bootstrap,
)
from modelkeep.registry.flavors.pyfunc import PythonModel
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.tracking import Client
from modelkeep.train.metrics import METRICS

# ---- shared helpers ----------------------------------------------------------------------------


class Constant(PythonModel):
    """Predicts ``value`` for every row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, data: Any) -> Any:
        return np.full(len(data), self.value)


def _settings(home: Path) -> Settings:
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{home / 'modelkeep.db'}"}
    )


def _client(settings: Settings) -> Client:
    return Client(settings.resolved_tracking_uri(), settings=settings)


def _register(
    client: Client, name: str, value: float, example: pd.DataFrame | None = None
) -> ModelVersion:
    run = client.create_run(client.get_or_create_experiment("review").id)
    frame = example if example is not None else pd.DataFrame({"x": [1.0, 2.0]})
    info = client.log_model(run.id, Constant(value), "model", input_example=frame)
    client.set_terminated(run.id)
    return client.register_model(info.uri, name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _versions(settings: Settings, name: str = "churn") -> list[int]:
    with _client(settings) as client:
        found = client.search_model_versions(f"name = '{name}'")
    return sorted(int(v.version) for v in found)


class _Stop(Exception):
    """Stands for the process being killed at a given stage."""


def _evaluation() -> Evaluation:
    boot = BootstrapResult("accuracy", 0.80, 0.86, 0.06, 0.01, 0.11, 0.001, 300, 1000)
    return Evaluation("accuracy", "classification", 300, 0.80, 0.86, boot, None, [])


def _only(gate: str) -> GatesConfig:
    """Gates config with just ``gate`` switched on besides the improvement and slices gates,
    which cannot be switched off and which the evaluation above passes."""
    flags: dict[str, Any] = {
        "require_significance": False,
        "latency_ratio": None,
        "signature": False,
        "integrity": False,
        "data_validation": False,
    }
    flags[gate] = True
    return GatesConfig(**flags)


# ---- the runner: crashes, resumes, keys --------------------------------------------------------


def test_a_canary_the_server_never_takes_up_is_rolled_back_cleanly(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    canary = policy(rollout={"mode": "canary", "step_timeout": 0.3, "poll": 0.05})
    nobody = f"http://127.0.0.1:{_free_port()}"  # e.g. a wrong --server, or no --canary

    [record] = run_policies(settings=world, policies=[canary], server_url=nobody)

    assert record.done and record.action == "rolled_back"
    assert aliases(world) == {"champion": 1}
    with _client(world) as client:
        assert client.get_registered_model("churn").tags[CANARY_WEIGHT_TAG] == "0"


def _serve_unlabeled_then_label(settings: Settings, rows: pd.DataFrame, *, label: bool) -> None:
    options = ServeOptions("models:/churn@champion", runtime="native")
    with TestClient(create_serving_app(options, settings)) as server:
        if label:
            feedback = [{"request_id": f"late/{i}", "label": int(v)}
                        for i, v in enumerate(rows["churned"])]  # fmt: skip
            assert server.post("/feedback", json=feedback).status_code == 200
            return
        body = {"dataframe_split": {"columns": FEATURES,
                                    "data": rows[FEATURES].to_numpy().tolist()}}  # fmt: skip
        answer = server.post("/invocations", json=body, headers={"x-request-id": "late"})
        assert answer.status_code == 200


def test_a_resumed_evaluation_judges_on_the_holdout_the_challenger_never_saw(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    late = make_rows(150, 7, shifted=True)
    _serve_unlabeled_then_label(world, late, label=False)  # scored now, labels come later
    chosen = policy()

    def stop_after_training(line: str) -> None:
        if "holdout rows" in line:
            raise _Stop

    with _client(world) as client:
        with pytest.raises(_Stop):
            evaluate_policy(client, world, chosen, progress=stop_after_training)
        [pending] = list_decisions(client, "churn")
    assert pending.challenger_version == 2 and pending.data["holdout_rows"] == 120
    _serve_unlabeled_then_label(world, late, label=True)  # delayed labels arrive

    [resumed] = run_policies(settings=world, policies=[chosen])

    with _client(world) as client:
        trained_on = client.get_model_version("churn", 2).tags
    assert resumed.run_id == pending.run_id
    # The evaluation must use the production rows the challenger was split from (measured
    # today: 550 rows, 165 in the holdout, 69 of which the challenger trained on).
    assert resumed.data["production_rows"] == int(trained_on["modelkeep.lineage.production_rows"])
    assert (resumed.evaluation or {})["rows"] == pending.data["holdout_rows"]


def test_a_watch_restart_does_not_retrain_again_on_the_same_evidence(tmp_path: Path) -> None:
    world = build_world(tmp_path, shifted_labels=False)  # coin-flip labels: challenger rejected
    with _client(world) as client:
        store_policy(client, policy_text(policy()))

    first = watch_policies(settings=world, times=1, every_s=0.05, window="1h")
    restarted = watch_policies(settings=world, times=1, every_s=0.05, window="1h")

    assert [r.action for r in first] == ["rejected"]
    assert restarted[0].action in ("rejected", "none")
    assert _versions(world) == [1, 2]  # no third version trained on the very same rows


def test_a_resume_after_the_challenger_was_registered_does_not_train_again(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    with _client(world) as client:
        champion = client.get_model_version("churn", 1)
        record = start_decision(client, "churn", "churn|v1|drift_share|monitor:crashed")
        record.champion_version = 1
        save_decision(client, record)
        # What prepare_challenger did before the process was killed: the version is
        # registered (challenger alias, lineage naming this decision), the record not saved.
        config = training_config(client, champion)
        retrain_challenger(
            client, config, original_data(config), home=world.home, champion=champion,
            challenger_alias="challenger", lineage={"decision": record.run_id},
        )  # fmt: skip

    [resumed] = run_policies(settings=world, policies=[policy()])

    assert resumed.run_id == record.run_id
    assert resumed.challenger_version == 2
    assert _versions(world) == [1, 2]


def test_a_resume_after_a_crash_inside_promote_withdraws_the_challenger(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with _client(settings) as client:
        _register(client, "m", 0.0)
        _register(client, "m", 1.0)
        client.set_alias("m", "champion", 1)
        record = start_decision(client, "m", "m|v1|manual1|monitor:-")
        record.champion_version, record.challenger_version = 1, 2
        save_decision(client, record)
        # promote(): the champion moved; then the process died before withdraw().
        client.set_alias("m", "challenger", 2)
        client.store.set_registered_model_tag("m", CANARY_WEIGHT_TAG, "1.0")
        client.set_alias("m", "champion", 2)
        chosen = load_policy({"model": "m", "triggers": [{"kind": "manual"}],
                              "rollout": {"mode": "canary"}})  # fmt: skip

        resumed = evaluate_policy(client, settings, chosen)
        model = client.get_registered_model("m")

    assert resumed.run_id == record.run_id and resumed.action == "promoted"
    assert dict(model.aliases) == {"champion": 2}
    assert model.tags[CANARY_WEIGHT_TAG] == "0"


def test_a_model_without_a_champion_does_not_stop_the_other_policies(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with _client(settings) as client:
        _register(client, "a", 0.0)  # registered, never given a champion
        client.set_alias("b", "champion", _register(client, "b", 0.0).version)
    quiet = [{"kind": "drift_share", "above": 0.5}]
    policies = [load_policy({"model": name, "triggers": quiet}) for name in ("a", "b")]

    records = run_policies(settings=settings, policies=policies)

    assert [r.action for r in records if r.model == "b"] == ["none"]


def test_a_long_model_name_is_maintained_and_its_evaluations_do_not_collide(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    name = "n" * 246  # the registry takes names up to 256 characters
    with _client(settings) as client:
        client.set_alias(name, "champion", _register(client, name, 0.0).version)
    chosen = load_policy({"model": name, "triggers": [{"kind": "manual"}]})

    [idle] = run_policies(settings=settings, policies=[chosen])
    [forced] = run_policies(settings=settings, policies=[chosen], manual=True)

    assert idle.action == "none"
    assert forced.run_id != idle.run_id and forced.triggers[0]["fired"] is True


def test_a_changed_original_training_file_is_recorded_not_a_crash(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    original = pd.read_csv(world.home / "churn.csv")
    original.drop(columns=["f2"]).to_csv(world.home / "churn.csv", index=False)

    [record] = run_policies(settings=world, policies=[policy()])

    assert record.done and record.action == "skipped"
    assert aliases(world) == {"champion": 1}


def test_an_absurd_retrain_weight_is_refused_or_recorded(tmp_path: Path) -> None:
    world = build_world(tmp_path, rows=120)
    try:
        heavy = policy(retrain={"weight": 1e300})
    except InvalidInputError as exc:
        assert exc.field == "retrain.weight"
        return

    [record] = run_policies(settings=world, policies=[heavy])

    assert record.done and aliases(world) == {"champion": 1}


# ---- gates and policy --------------------------------------------------------------------------


def test_the_signature_gate_refuses_a_challenger_that_rejects_the_champions_nulls(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    with _client(settings) as client:
        champion = _register(
            client, "m", 0.0, pd.DataFrame({"x": [1.0, 2.0], "plan": ["a", None]})
        )
        challenger = _register(
            client, "m", 1.0, pd.DataFrame({"x": [1.0, 2.0], "plan": ["a", "b"]})
        )
        request = pd.DataFrame({"x": [1.0], "plan": [None]})
        old = client.load_model(champion.uri, allow_code=True)
        new = client.load_model(challenger.uri, allow_code=True)
        assert list(old.predict(request)) == [0.0]  # the champion serves this request
        with pytest.raises(InvalidInputError):
            new.predict(request)  # the challenger refuses it
        context = GateContext(
            client, "m", champion, challenger, _evaluation(), request, _only("signature"),
            models={"champion": old, "challenger": new}, allow_code=True,
        )  # fmt: skip
        [signature] = [r for r in run_gates(context) if r.name == "signature"]

    assert not signature.passed


def test_a_failed_data_validation_gate_says_why(tmp_path: Path) -> None:
    from modelkeep.maintain.stages import validate_refreshed
    from modelkeep.train.config import load_train_config

    settings = _settings(tmp_path)
    config = load_train_config({"task": "classification", "data": "d.csv", "target": "y",
                                "model": {"family": "logistic"}})  # fmt: skip
    production = pd.DataFrame({"x": [1.0, 2.0], "z": [None, None], "y": [0, 1]})
    summary = validate_refreshed(production, production, ["x", "z"], config, None)
    assert summary["passed"] is False and "'z'" in summary["problems"][0]
    with _client(settings) as client:
        first, second = _register(client, "m", 0.0), _register(client, "m", 1.0)
        context = GateContext(
            client, "m", first, second, _evaluation(), production[["x"]],
            _only("data_validation"), data_validation=summary,
        )  # fmt: skip
        [gate] = [r for r in run_gates(context) if r.name == "data_validation"]

    assert not gate.passed
    assert "'z'" in gate.detail  # the record's reason must name the problem


def test_an_undefined_improvement_does_not_pass_the_improvement_gate(tmp_path: Path) -> None:
    y = np.ones(40, dtype=int)  # a holdout of one class: ROC AUC is undefined
    proba = np.column_stack([np.linspace(0.1, 0.9, 40), np.linspace(0.9, 0.1, 40)])
    boot = paired_bootstrap(y, proba, proba[::-1], "roc_auc", classes=[0, 1], n_boot=100)
    assert math.isnan(boot.diff)
    evaluation = Evaluation("roc_auc", "classification", 40, boot.a, boot.b, boot, None, [])
    settings = _settings(tmp_path)
    with _client(settings) as client:
        first, second = _register(client, "m", 0.0), _register(client, "m", 1.0)
        context = GateContext(client, "m", first, second, evaluation, pd.DataFrame({"x": [1.0]}),
                              _only("integrity"))  # fmt: skip
        [gate] = [r for r in run_gates(context) if r.name == "improvement"]

    assert not gate.passed


def test_a_policy_with_a_reserved_alias_is_refused_with_its_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_policy({"model": "m", "challenger_alias": "latest",
                     "triggers": [{"kind": "manual"}]})  # fmt: skip
    assert caught.value.field == "challenger_alias"


# ---- canary: a challenger that refuses the champion's traffic ----------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """``m``: v1 champion taking ``x``; v2 needs ``x`` and ``z`` (refuses ``x``-only rows)."""
    settings = _settings(tmp_path)
    with _client(settings) as client:
        client.set_alias("m", "champion", _register(client, "m", 0.0).version)
        _register(client, "m", 1.0, pd.DataFrame({"x": [1.0, 2.0], "z": [1.0, 2.0]}))
    port = _free_port()
    options = ServeOptions(
        "models:/m@champion", canary_uri="models:/m@challenger", canary_weight=0.0,
        runtime="native", allow_code=True, inference_log=False, poll_interval_s=0.05,
        port=port,
    )  # fmt: skip
    config = uvicorn.Config(create_serving_app(options, settings), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield settings, f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)


def _traffic(url: str, stop: threading.Event, statuses: list[tuple[int, str]]) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for n in itertools.count():
            if stop.is_set():
                return
            body = {"dataframe_split": {"columns": ["x"], "data": [[float(n % 5)]]}}
            answer = http.post("/invocations", json=body, headers={"x-request-id": f"r{n}"})
            statuses.append((answer.status_code, answer.headers.get("x-model-variant", "")))
            time.sleep(0.002)


def test_a_canary_that_refuses_the_champions_requests_is_rolled_back(
    served: tuple[Settings, str],
) -> None:
    settings, url = served
    chosen = load_policy({
        "model": "m", "triggers": [{"kind": "manual"}],
        "rollout": {"mode": "canary", "steps": [0.5, 1.0], "min_requests": 25, "poll": 0.05,
                    "step_timeout": "30s", "max_latency_ratio": 1000},
    })  # fmt: skip
    stop = threading.Event()
    statuses: list[tuple[int, str]] = []
    sender = threading.Thread(target=_traffic, args=(url, stop, statuses), daemon=True)
    with _client(settings) as client:
        client.set_alias("m", "challenger", 2)
        sender.start()
        try:
            result = canary_rollout(client, chosen, 2, server_url=url,
                                    inference_root=settings.home / "inference")  # fmt: skip
        finally:
            stop.set()
            sender.join(timeout=30)
        champion = dict(client.get_registered_model("m").aliases)

    assert any(s == 200 and v == "primary" for s, v in statuses)
    assert all(s != 200 for s, v in statuses if v == "canary")  # the canary refused them all
    assert result.outcome == "rolled_back"
    assert champion == {"champion": 1}


# ---- checked and found right -------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 10), (12, 12), (1, 0), (24, 0), (20, 40)])
def test_mcnemar_matches_the_exact_binomial_and_corrected_chi_squared(b: int, c: int) -> None:
    same = 7
    right_a = np.array([True] * b + [False] * c + [True] * same + [False] * 3)
    right_b = np.array([False] * b + [True] * c + [True] * same + [False] * 3)

    result = mcnemar_test(right_a, right_b)

    assert (result.b, result.c) == (b, c)
    if b + c < 25:
        assert result.exact
        assert math.isclose(result.p_value, binomtest(min(b, c), b + c, 0.5).pvalue)
    else:
        statistic = (abs(b - c) - 1) ** 2 / (b + c)
        assert not result.exact and math.isclose(result.statistic, statistic)
        assert math.isclose(result.p_value, float(chi2.sf(statistic, 1)))


def _resampled(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(draws)])


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_vectorised_resample_metrics_equal_the_metric_on_the_drawn_rows(metric: str) -> None:
    rng = np.random.default_rng(3)
    n, spec = 50, METRICS[metric]
    counts = _resampled(rng, n, 6)
    if spec.task == "regression":
        y, pred, classes = rng.normal(size=n), rng.normal(size=n), []
    else:
        classes = ["a", "b", "c"]
        y = np.array(classes, dtype=object)[rng.integers(0, 3, n)]
        if spec.needs_proba:
            pred = rng.dirichlet([1.0, 1.0, 1.0], n)
        else:
            pred = np.array(classes, dtype=object)[rng.integers(0, 3, n)]

    fast = metric_on_resamples(metric, y, pred, counts, classes)

    rows = np.arange(n)
    for value, row in zip(fast, counts, strict=True):
        drawn = np.repeat(rows, row)
        assert math.isclose(value, spec.score(y[drawn], pred[drawn], classes), abs_tol=1e-9)


def test_the_bootstrap_orients_lower_is_better_metrics_as_improvement() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    worse, better = y + rng.normal(0, 1.0, 200), y + rng.normal(0, 0.3, 200)

    gain = paired_bootstrap(y, worse, better, "rmse", n_boot=400)
    loss = paired_bootstrap(y, better, worse, "rmse", n_boot=400)
    tie = paired_bootstrap(y, worse, worse, "mae", n_boot=200)

    assert gain.diff > 0 and gain.lower > 0 and gain.p_value < 0.01
    assert math.isclose(gain.diff, gain.a - gain.b)
    assert loss.diff < 0 and loss.upper < 0
    assert tie.diff == 0 and tie.p_value == 1.0


@pytest.mark.parametrize("name", ["..", "../../etc", "a/../../b", ".hidden", "..\\x"])
def test_retrain_data_stays_under_the_maintain_folder(tmp_path: Path, name: str) -> None:
    path = _write_rows(tmp_path, name, pd.DataFrame({"a": [1, 2]}))

    assert path.resolve().is_relative_to((tmp_path / "maintain").resolve())
    assert path.parent.parent == tmp_path / "maintain"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"triggers": [{"kind": "schedule", "every": "soon"}]}, "triggers.0.every"),
        (
            {"triggers": [{"kind": "performance", "metric": "rmse", "below": 1}]},
            "triggers.0.below",
        ),  # fmt: skip
        (
            {"triggers": [{"kind": "manual"}], "rollout": {"steps": [0.5, "a"]}},
            "rollout.steps.1",
        ),  # fmt: skip
        (
            {"triggers": [{"kind": "manual"}], "rollout": {"steps": [0.5, 0.4, 1.0]}},
            "rollout.steps",
        ),  # fmt: skip
        ({"triggers": [{"kind": "manual"}], "retrain": {"holdout": 1}}, "retrain.holdout"),
        ({"triggers": [5]}, "triggers.0"),
        (
            {"triggers": [{"kind": "manual"}], "evaluation": {"slices": "plan"}},
            "evaluation.slices",
        ),  # fmt: skip
    ],
)
def test_bad_policy_documents_name_their_dotted_field(
    document: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_policy({"model": "m", **document})
    assert caught.value.field == field


def test_cli_rollback_and_policy_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with _client(settings) as client:
        client.set_alias("m", "champion", _register(client, "m", 0.0).version)
    bad = tmp_path / "policy.yaml"
    bad.write_text("model: m\ntriggers: [{kind: schedule, every: soon}]\n")
    store = ["--store", settings.resolved_tracking_uri()]
    runner = CliRunner()

    rollback = runner.invoke(cli_app, [*store, "models", "rollback", "m"])
    unknown = runner.invoke(cli_app, [*store, "models", "rollback", "nope"])
    policy_set = runner.invoke(cli_app, [*store, "maintain", "policy", "set", str(bad)])

    for result in (rollback, unknown, policy_set):
        assert result.exit_code == 1
        assert isinstance(result.exception, SystemExit)  # handled, not a crash
    assert "triggers.0.every" in policy_set.output
    with _client(settings) as client:
        assert dict(client.get_registered_model("m").aliases) == {"champion": 1}


def test_rollback_twice_returns_to_the_version_rolled_back_from(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with _client(settings) as client:
        for value in (0.0, 1.0, 2.0):
            version = _register(client, "m", value).version
            client.set_alias("m", "champion", version)
        back = client.rollback_alias("m", reason="v3 is bad")
        forth = client.rollback_alias("m", reason="undo")

    assert (back.previous_version, back.version) == (3, 2)
    assert (forth.previous_version, forth.version) == (2, 3)
