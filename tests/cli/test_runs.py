from __future__ import annotations

import json

from cli_support import Invoke, Seeded

from modelkeep.entities import Metric
from modelkeep.tracking import Client


def _names(stdout: str) -> list[str]:
    data = json.loads(stdout)
    runs = data["runs"] if isinstance(data, dict) else data
    return [run["name"] for run in runs]


def test_list_without_experiment_covers_every_active_experiment(
    cli: Invoke, seeded: Seeded
) -> None:
    result = cli("runs", "list", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(_names(result.stdout)) == ["a", "b", "c", "d"]


def test_list_of_one_experiment(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "list", "--experiment", "other", "--json")
    assert _names(result.stdout) == ["d"]


def test_list_respects_max_results(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "list", "--max-results", "2", "--json")
    assert len(_names(result.stdout)) == 2


def test_list_table_shows_run_ids_whole(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "list", "--experiment", "churn")
    assert result.exit_code == 0
    assert all(seeded.run_ids[name] in result.stdout for name in "abc")


def test_list_of_unknown_experiment_is_an_error(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "list", "--experiment", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: No experiment named 'nope'"


def test_search_filters_and_orders(cli: Invoke, seeded: Seeded) -> None:
    result = cli(
        "runs",
        "search",
        "--experiment",
        "churn",
        "--filter",
        "metrics.acc > 0.75 or params.lr = '0.01'",
        "--order-by",
        "metrics.acc DESC",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert _names(result.stdout) == ["b", "c", "a"]


def test_search_with_two_order_keys(cli: Invoke, seeded: Seeded) -> None:
    result = cli(
        "runs", "search", "--order-by", "tags.team DESC", "--order-by", "metrics.acc", "--json"
    )
    assert _names(result.stdout) == ["c", "d", "a", "b"]


def test_search_pages_with_the_printed_token(cli: Invoke, seeded: Seeded) -> None:
    args = ("runs", "search", "--order-by", "metrics.acc ASC", "--max-results", "3", "--json")
    first = json.loads(cli(*args).stdout)
    assert [r["name"] for r in first["runs"]] == ["d", "a", "c"]
    second = json.loads(cli(*args, "--page-token", first["next_page_token"]).stdout)
    assert [r["name"] for r in second["runs"]] == ["b"]
    assert second["next_page_token"] is None


def test_search_table_prints_the_next_page_token(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "search", "--max-results", "1")
    assert result.exit_code == 0
    assert "--page-token " in result.stdout


def test_malformed_filter_error_points_at_the_token(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "search", "--filter", "metrics.acc >> 1")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: Unexpected token '>' at position 13: expected a number"
    )
    assert "Traceback" not in result.output


def test_malformed_order_by_is_an_error(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "search", "--order-by", "metrics.acc UP")
    assert result.exit_code == 1
    assert "Unexpected token 'UP'" in result.stderr


def test_show_json_has_attributes_params_metrics_tags_inputs_and_artifacts(
    cli: Invoke, seeded: Seeded
) -> None:
    result = cli("runs", "show", seeded.run_ids["b"], "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["name"], run["status"]) == ("b", "FINISHED")
    assert run["params"] == {"lr": "0.1"}
    assert run["metrics"]["acc"] == 0.9
    assert run["tags"] == {"team": "a"}
    assert [(d["name"], d["context"]) for d in run["inputs"]] == [("train", "training")]
    assert [a["path"] for a in run["artifacts"]] == ["model/weights.json", "notes.txt"]


def test_show_table_has_every_section(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "show", seeded.run_ids["b"])
    assert result.exit_code == 0
    for heading in ("Run", "Params", "Metrics", "Tags", "Inputs", "Artifacts"):
        assert heading in result.stdout
    assert "model/weights.json" in result.stdout


def test_show_json_writes_non_finite_metrics_as_strings(
    cli: Invoke, seeded: Seeded, client: Client
) -> None:
    run_id = seeded.run_ids["a"]
    client.log_batch(run_id, metrics=[Metric("div", float("nan"), 0, 1), Metric("up", 1e999)])
    run = json.loads(cli("runs", "show", run_id, "--json").stdout)
    assert (run["metrics"]["div"], run["metrics"]["up"]) == ("NaN", "Infinity")


def test_show_unknown_run_is_a_one_line_error(cli: Invoke) -> None:
    result = cli("runs", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Run 'nope' does not exist"
    assert "Traceback" not in result.output


def test_delete_hides_the_run(cli: Invoke, seeded: Seeded) -> None:
    result = cli("runs", "delete", seeded.run_ids["a"])
    assert result.exit_code == 0, result.output
    remaining = cli("runs", "list", "--experiment", "churn", "--json").stdout
    assert sorted(_names(remaining)) == ["b", "c"]
