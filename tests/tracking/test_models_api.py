"""The public model API end to end on a real SQLite store and artifact folder:
log_model -> register_model -> set_alias -> load_model, plus signing, export/import and cards."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import modelkeep as mk
from modelkeep.registry.signing import generate_keypair, load_private_key, load_public_key
from modelkeep.tracking import Client


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 80, 200), "income": rng.normal(50, 10, 200)})
    target = (frame["income"] + rng.normal(0, 5, 200) > 50).astype(int).to_numpy()
    return frame, target


@pytest.fixture
def forest(data: tuple[pd.DataFrame, np.ndarray]) -> RandomForestClassifier:
    frame, target = data
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, target)


def _logged(tracking_uri: str, forest: RandomForestClassifier, frame: pd.DataFrame) -> str:
    with mk.start_run(experiment="churn") as run:
        run.log_metric("auc", 0.91)
        run.log_dataset(frame, name="train", context="training")
        info = run.log_model(forest, input_example=frame.head(5))
    return info.uri


def test_log_register_alias_load_round_trip(
    tracking_uri: str, forest: RandomForestClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mv = mk.register_model(uri, name="churn", description="who leaves next month")
    assert (mv.name, mv.version, mv.flavor) == ("churn", 1, "sklearn")
    mk.set_alias("churn", "champion", version=mv.version, reason="best auc")

    model = mk.load_model("models:/churn@champion")
    assert np.array_equal(model.predict(frame), forest.predict(frame))
    assert np.array_equal(model.predict_proba(frame), forest.predict_proba(frame))
    assert model.version is not None and model.version.version == 1
    assert model.manifest.metrics["auc"] == pytest.approx(0.91)
    assert [d["name"] for d in model.manifest.datasets] == ["train"]
    assert model.signature is not None
    assert mk.get_registered_model("churn").description == "who leaves next month"


def test_every_uri_form_loads_the_same_package(
    tracking_uri: str, forest: RandomForestClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mk.register_model(uri, name="churn")
    mk.set_alias("churn", "champion", 1)
    digests = {
        mk.load_model(u).root_digest
        for u in (uri, "models:/churn/1", "models:/churn@champion", "models:/churn/latest")
    }
    assert len(digests) == 1


def test_logging_twice_under_one_name_is_refused(
    tracking_uri: str, forest: RandomForestClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    with mk.start_run() as run:
        run.log_model(forest, input_example=frame.head(3))
        with pytest.raises(mk.ConflictError):
            run.log_model(forest, input_example=frame.head(3))


def _tamper_blob(root: Path, suffix: str = ".skops") -> None:
    """Flip one byte of the largest stored blob (the model file)."""
    blobs = sorted(
        (p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.name),
        key=lambda p: p.stat().st_size,
    )
    target = blobs[-1]
    os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0xFF
    target.write_bytes(bytes(content))


def test_tampered_package_refuses_to_load_or_register(
    tracking_uri: str,
    forest: RandomForestClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mk.register_model(uri, name="churn")
    _tamper_blob(tmp_path / "artifacts")
    with pytest.raises(mk.PackageIntegrityError) as caught:
        mk.load_model("models:/churn/1")
    assert "model.skops" in caught.value.message
    with pytest.raises(mk.PackageIntegrityError):
        mk.register_model(uri, name="churn")
    assert [v.version for v in mk.search_model_versions("name = 'churn'")] == [1]


def test_search_model_versions_filters_by_tag(
    tracking_uri: str, forest: RandomForestClassifier, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mk.register_model(uri, name="churn", tags={"team": "a"})
    mk.register_model(uri, name="churn", tags={"team": "b"})
    mk.register_model(uri, name="other", tags={"team": "a"})
    found = mk.search_model_versions(filter="name = 'churn' and tags.team = 'a'")
    assert [(v.name, v.version) for v in found] == [("churn", 1)]


def test_signing_required_blocks_unsigned_alias_until_signed(
    tracking_uri: str,
    forest: RandomForestClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mv = mk.register_model(uri, name="churn")
    private_path, public_path = generate_keypair(tmp_path / "keys" / "release")
    client = Client(tracking_uri)
    try:
        client.store.update_registered_model(
            "churn", require_signatures=True, trusted_keys=[load_public_key(public_path)]
        )
        with pytest.raises(mk.SignatureError):
            mk.set_alias("churn", "champion", mv.version)
        assert mk.get_registered_model("churn").aliases == {}

        client.sign_model_version("models:/churn/1", load_private_key(private_path))
        report = client.verify_model_version("models:/churn/1")
        assert report.ok and report.signatures[0].valid and report.signatures[0].trusted
        mk.set_alias("churn", "champion", mv.version)
        assert mk.get_registered_model("churn").aliases == {"champion": 1}
    finally:
        client.close()


def test_export_then_import_keeps_predictions_and_signatures(
    tracking_uri: str,
    forest: RandomForestClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mk.register_model(uri, name="churn", description="purpose", tags={"team": "a"})
    private_path, _ = generate_keypair(tmp_path / "k")
    client = Client(tracking_uri)
    try:
        client.sign_model_version("models:/churn/1", load_private_key(private_path))
        archive = client.export_model_version("models:/churn/1", tmp_path / "churn.tar.gz")
        imported = client.import_model_version(archive, name="churn-copy")
    finally:
        client.close()
    assert imported.version == 1
    assert imported.tags == {"team": "a"}
    assert len(imported.signatures) == 1
    original = mk.get_model_version("churn", 1)
    assert imported.root_digest == original.root_digest
    model = mk.load_model("models:/churn-copy/1")
    assert np.array_equal(model.predict(frame), forest.predict(frame))


def test_model_card_describes_the_version(
    tracking_uri: str,
    forest: RandomForestClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    frame, _ = data
    uri = _logged(tracking_uri, forest, frame)
    mk.register_model(uri, name="churn", description="Predicts who leaves next month")
    mk.set_alias("churn", "champion", 1, reason="first good model")
    client = Client(tracking_uri)
    try:
        markdown, html = client.write_model_card("models:/churn/1", tmp_path / "card")
    finally:
        client.close()
    text = markdown.read_text()
    assert "Predicts who leaves next month" in text
    assert "first good model" in text
    assert "income" in text  # signature column
    assert "<html" in html.read_text().lower()


class _Payload:
    """Unpickling this would create the marker file (it never must)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_registering_a_pickle_disguised_as_a_model_is_refused(
    tracking_uri: str,
    forest: RandomForestClassifier,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    import dataclasses
    import pickle

    from modelkeep.registry.manifest import read_manifest, sha256_file, write_manifest
    from modelkeep.registry.package import save_package

    frame, _ = data
    package = tmp_path / "package"
    save_package(forest, package, input_example=frame.head(3))
    marker = tmp_path / "pwned"
    (package / "model.skops").write_bytes(pickle.dumps(_Payload(marker)))
    manifest = read_manifest(package)  # the attacker re-hashes so the digests agree
    files = {**manifest.files, "model.skops": sha256_file(package / "model.skops")}
    write_manifest(package, dataclasses.replace(manifest, files=files))
    client = Client(tracking_uri)
    try:
        run = client.create_run(client.get_or_create_experiment("e").id)
        client.artifacts.log_dir(run.id, package, "model")
        with pytest.raises(mk.PackageIntegrityError) as caught:
            client.register_model(f"runs:/{run.id}/model", "churn")
        assert caught.value.field == "model.skops"
        with pytest.raises(mk.PackageIntegrityError):
            client.load_model(f"runs:/{run.id}/model", allow_code=True)
        assert list(client.search_model_versions()) == []
    finally:
        client.close()
    assert not marker.exists()
