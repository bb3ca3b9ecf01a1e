"""Adversarial review of issue 8 (explain, audits, audit log, extraction defence).

The first tests each pinned a bug the review found, all fixed since: the pickle scanner
(a second stream, joblib arrays, truncated protocol-0 streams, junk .npy headers, archives
nested too deep), one-hot columns traced by position, bare estimators given named columns,
/explain seen by the extraction monitor, date-hours and product names not taken for personal
data, and INSERT OR REPLACE refused on the audit log; the rest pin edge cases found fine.
"""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from starlette.testclient import TestClient

from modelkeep.audit.membership_metrics import attack_metrics, roc_points
from modelkeep.audit.pickle_scan import scan_bytes
from modelkeep.audit.pii import scan_pii
from modelkeep.config import Settings
from modelkeep.explain import explain
from modelkeep.explain.columns import source_columns
from modelkeep.serve.app import create_serving_app
from modelkeep.serve.options import ServeOptions
from modelkeep.store.sql.store import SqlStore
from modelkeep.tracking import Client

# A protocol-4 pickle that calls os.system("id") when loaded; built by hand, never loaded.
EVIL = b"\x80\x04cos\nsystem\n\x8c\x02id\x85R."


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _dangerous(data: bytes, name: str) -> list[str]:
    return [g for finding in scan_bytes(data, name) for g in finding.dangerous]


# ---- pickle scanner: bugs ---------------------------------------------------------------------


def test_every_concatenated_pickle_stream_is_scanned() -> None:
    data = pickle.dumps(119547037146038801333356, protocol=2) + EVIL

    assert "os system" in _dangerous(data, "model.pt")


def test_joblib_global_after_an_array_is_found(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": np.arange(10), "hook": os.system}, path)

    assert any("system" in name for name in _dangerous(path.read_bytes(), "model.joblib"))


def test_truncated_protocol0_stream_is_reported() -> None:
    stream = b"cos\nsystem\n(S'id'\ntR"

    assert "os system" in _dangerous(stream, "weights.bin")


def test_bare_npy_magic_does_not_crash_the_scanner() -> None:
    findings = scan_bytes(b"\x93NUMPY", "array.npy")

    assert all(finding.error for finding in findings)


def test_npy_header_with_unhashable_key_does_not_crash() -> None:
    header = b"{[]:1}"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header

    findings = scan_bytes(data, "array.npy")

    assert findings and findings[0].error


def test_zip_nested_past_the_depth_limit_is_not_reported_clean() -> None:
    data = _zip("data.pkl", EVIL)
    for level in range(1, 4):
        data = _zip(f"level{level}.zip", data)

    findings = scan_bytes(data, "model.zip")

    assert any(finding.dangerous or finding.error for finding in findings)


# ---- pickle scanner: checked and fine ---------------------------------------------------------


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("id",))


def test_stack_global_through_the_memo_and_protocol0_global_are_found() -> None:
    # the module/name strings are memoised by the earlier tuple and fetched with BINGET
    memo = pickle.dumps([("posix", "system"), _Evil()], protocol=4)
    proto0 = b"cos\nsystem\n(S'id'\ntR."

    assert _dangerous(memo, "m.pkl") == ["posix system"]
    assert _dangerous(proto0, "m.bin") == ["os system"]


def test_three_deep_zip_and_compressed_joblib_are_scanned(tmp_path: Path) -> None:
    data = _zip("data.pkl", EVIL)
    for level in range(1, 3):
        data = _zip(f"level{level}.zip", data)
    path = tmp_path / "m.joblib"
    joblib.dump({"hook": os.system, "weights": np.arange(3)}, path, compress=3)

    assert _dangerous(data, "model.zip") == ["os system"]
    assert any("system" in name for name in _dangerous(path.read_bytes(), "m.joblib"))


def test_binary_junk_does_not_crash_the_scanner() -> None:
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 64, 4096):
        junk = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        for prefix in (b"", b"\x80", b"PK\x03\x04", b"\x1f\x8b", b"BZh"):
            findings = scan_bytes(prefix + junk, "junk.pkl")
            assert all(not finding.dangerous for finding in findings)


# ---- explain: column tracing ------------------------------------------------------------------


def test_one_hot_output_that_collides_with_another_input_name() -> None:
    frame = pd.DataFrame({"color": ["red", "blue", "red"], "color_red": ["no", "yes", "no"]})
    encoder = OneHotEncoder().fit(frame)
    # outputs: color_blue, color_red (from color), color_red_no, color_red_yes
    assert list(encoder.get_feature_names_out()) == [
        "color_blue",
        "color_red",
        "color_red_no",
        "color_red_yes",
    ]

    assert source_columns(encoder, ["color", "color_red"]) == [0, 0, 1, 1]


# ---- PII: false positives ---------------------------------------------------------------------


def test_date_hour_buckets_are_not_phone_numbers() -> None:
    hours = pd.date_range("2020-01-01", periods=50, freq="h").strftime("%Y-%m-%d %H")

    report = scan_pii(pd.DataFrame({"hour": list(hours)}))

    assert report.findings == ()


def test_a_product_catalogue_is_not_people_names() -> None:
    products = [
        "Steel Water Bottle", "Blue Cotton Shirt", "Wireless Mouse", "Desk Lamp",
        "Garden Hose", "Running Shoes", "Coffee Grinder", "Yoga Mat", "Leather Wallet",
        "Phone Case", "Table Fan", "Kitchen Scale", "Travel Mug", "Wool Scarf",
    ]  # fmt: skip

    report = scan_pii(pd.DataFrame({"product": products, "price": np.arange(14.0)}))

    assert [f.kind for f in report.findings] == []


def test_pii_detects_plus_addressed_email_and_ipv6_but_not_random_order_numbers() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "contact": ["jane+news@example.com", "a.b+c@x.co.uk"] * 100,
            "peer": ["2001:db8::1", "fe80::1%eth0"] * 100,
            "order_no": rng.integers(10**15, 10**16, 200),
        }
    )

    report = scan_pii(frame)

    kinds = {(f.column, f.kind) for f in report.findings}
    assert kinds == {("contact", "email"), ("peer", "ip_address")}


# ---- membership metrics: checked and fine -----------------------------------------------------


def test_membership_metrics_match_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        members = rng.integers(0, 5, rng.integers(1, 30)).astype(float)
        others = rng.integers(0, 5, rng.integers(1, 30)).astype(float)
        labels = np.r_[np.ones(len(members)), np.zeros(len(others))]
        scores = np.r_[members, others]
        fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)

        got = attack_metrics(members, others, bootstrap=0)
        points = roc_points(members, others)

        assert got.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert got.advantage == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)
        assert got.tpr_at_1pct_fpr == pytest.approx(float(np.interp(0.01, fpr, tpr)))
        np.testing.assert_allclose(points[0], fpr)
        np.testing.assert_allclose(points[1], tpr)


# ---- audit log --------------------------------------------------------------------------------


def test_audit_event_cannot_be_rewritten_with_insert_or_replace(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    try:
        store.create_experiment("audited")
        before = store.list_audit_events()
        with sqlite3.connect(tmp_path / "mk.db") as conn, pytest.raises(sqlite3.DatabaseError):
            conn.execute(
                "INSERT OR REPLACE INTO mk_audit_events "
                "(id, timestamp, actor, action, target, detail, source) "
                "VALUES (?, 0, 'nobody', 'noop', 'x', '{}', 'x')",
                (before[0].id,),
            )
        assert store.list_audit_events() == before
    finally:
        store.close()


def test_audit_update_delete_refused_and_token_hash_not_recorded(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'mk.db'}")
    try:
        store.create_token("ci", "writer", "f" * 64)  # type: ignore[arg-type]
        events = store.list_audit_events()
        with sqlite3.connect(tmp_path / "mk.db") as conn:
            for statement in (
                "UPDATE mk_audit_events SET actor = 'x'",
                "DELETE FROM mk_audit_events",
            ):
                with pytest.raises(sqlite3.IntegrityError):
                    conn.execute(statement)
        assert store.list_audit_events() == events
        assert [e.action for e in events] == ["create_token"]
        assert "f" * 64 not in events[0].detail and events[0].details == {
            "name": "ci",
            "role": "writer",
        }
    finally:
        store.close()


# ---- extraction defence -----------------------------------------------------------------------


@pytest.fixture
def served_logistic(tmp_path: Path) -> tuple[Settings, pd.DataFrame]:
    settings = Settings(home=tmp_path).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'modelkeep.db'}"}
    )
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(X, (X["a"] + X["b"] > 0).astype(int))
    bare = LogisticRegression().fit(X, (X["a"] + X["b"] > 0).astype(int))
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        run = client.create_run(client.get_or_create_experiment("guard").id)
        info = client.log_model(run.id, model, "model", input_example=X.head(5))
        client.set_terminated(run.id)
        client.register_model(info.uri, "m")
        client.set_alias("m", "champion", 1)
        run = client.create_run(client.get_or_create_experiment("guard").id)
        info = client.log_model(run.id, bare, "model", input_example=X.head(5))
        client.set_terminated(run.id)
        client.register_model(info.uri, "bare")
    return settings, X


def test_bare_linear_model_fitted_on_a_frame_explains_without_warnings(
    served_logistic: tuple[Settings, pd.DataFrame],
) -> None:
    settings, X = served_logistic

    result = explain("models:/bare/1", X.head(5), background=X, settings=settings)

    assert result.method == "linear"
    assert result.additivity_error < 1e-6


def test_explain_queries_are_seen_by_the_extraction_monitor(
    served_logistic: tuple[Settings, pd.DataFrame],
) -> None:
    settings, X = served_logistic
    options = ServeOptions(
        "models:/m@champion", runtime="native", inference_log=False, detect_extraction=True
    )
    rng = np.random.default_rng(1)
    queries = pd.DataFrame(rng.uniform(-3, 3, (60, 3)), columns=list(X.columns))
    with TestClient(create_serving_app(options, settings)) as server:
        for start in range(0, 60, 10):
            part = queries.iloc[start : start + 10]
            split = {"columns": list(part.columns), "data": part.to_numpy().tolist()}
            body = {"dataframe_split": split}
            answer = server.post("/explain", json=body)
            assert answer.status_code == 200, answer.text
        clients = server.get("/guard").json()["extraction"]["clients"]

    assert sum(client["queries"] for client in clients) == 60


def test_explain_is_refused_under_labels_only(
    served_logistic: tuple[Settings, pd.DataFrame],
) -> None:
    settings, X = served_logistic
    options = ServeOptions(
        "models:/m@champion", runtime="native", inference_log=False, labels_only=True
    )
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.head(2).values.tolist()}}
    with TestClient(create_serving_app(options, settings)) as server:
        explained = server.post("/explain", json=body)
        scored = server.post("/invocations?output=proba", json=body)

    assert explained.status_code == 403
    assert scored.status_code == 200
    assert all(isinstance(v, int) for v in scored.json()["predictions"])


def test_column_used_by_two_branches_and_a_passthrough_remainder_are_traced() -> None:
    from sklearn.compose import ColumnTransformer

    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "plan": ["x", "y", "x"], "b": [0.0, 1.0, 0.5], "c": [3, 1, 2]}
    )
    prep = ColumnTransformer(
        [
            ("scaled", StandardScaler(), ["a", "b"]),
            ("again", StandardScaler(), ["a"]),
            ("hot", OneHotEncoder(), ["plan"]),
        ],
        remainder="passthrough",
    ).fit(frame)

    sources = source_columns(prep, list(frame.columns))

    assert sources == [0, 2, 0, 1, 1, 3]
    assert len(sources) == prep.transform(frame).shape[1]
