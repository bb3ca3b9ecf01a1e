"""The model lifecycle through ``Client`` on every backend: SQLite, PostgreSQL, and RestStore
through the server (packages then travel over the artifact routes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sklearn.linear_model import LogisticRegression

from modelkeep.config import Settings
from modelkeep.exceptions import SignatureError
from modelkeep.registry.signing import public_key_b64
from modelkeep.store.base import BaseStore
from modelkeep.tracking import Client


@pytest.fixture
def client(store: BaseStore, tmp_path: Path) -> Client:
    settings = Settings(home=tmp_path / "home", artifact_root=tmp_path / "client-artifacts")
    return Client(store=store, settings=settings)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"a": rng.normal(size=80), "b": rng.integers(0, 5, 80)})


def test_log_register_alias_load_sign_export_import(
    client: Client, frame: pd.DataFrame, tmp_path: Path
) -> None:
    clf = LogisticRegression().fit(frame, (frame["a"] > 0).astype(int))
    run = client.create_run(client.get_or_create_experiment("e").id)
    info = client.log_model(run.id, clf, input_example=frame.head(4))
    version = client.register_model(info.uri, "churn", description="d", actor="ann")
    assert (version.version, version.root_digest, version.created_by) == (
        1,
        info.root_digest,
        "ann",
    )

    key = Ed25519PrivateKey.generate()
    client.store.update_registered_model(
        "churn", require_signatures=True, trusted_keys=[public_key_b64(key)]
    )
    with pytest.raises(SignatureError):
        client.set_alias("churn", "champion", 1)
    client.sign_model_version("models:/churn/1", key)
    assert client.verify_model_version("models:/churn/1").ok
    client.set_alias("churn", "champion", 1, reason="signed")

    loaded = client.load_model("models:/churn@champion")
    assert np.array_equal(loaded.predict(frame), clf.predict(frame))
    assert np.array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))

    archive = client.export_model_version("models:/churn@champion", tmp_path / "v1.tar.gz")
    copy = client.import_model_version(archive, name="churn-copy")
    assert (copy.root_digest, len(copy.signatures)) == (version.root_digest, 1)
    again = client.load_model("models:/churn-copy/latest")
    assert np.array_equal(again.predict(frame), clf.predict(frame))
