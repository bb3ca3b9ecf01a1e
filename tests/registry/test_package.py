"""Model packages: what MODEL.json records, and the integrity checks every load runs first."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from flavor_support import mixed_frame, numeric_data, rehash
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InputSchemaError, InvalidInputError, PackageIntegrityError
from modelkeep.registry.manifest import read_manifest, verify_package
from modelkeep.registry.package import load_package, save_package
from modelkeep.registry.signature import infer_signature


def _pipeline() -> tuple[Pipeline, pd.DataFrame]:
    frame, labels = mixed_frame()
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["age", "visits"]), ("cat", OneHotEncoder(), ["city"])]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(frame, labels), frame


@dataclass
class Saved:
    directory: Path
    root: str
    frame: pd.DataFrame
    model: Pipeline


@pytest.fixture
def package(tmp_path: Path) -> Saved:
    model, frame = _pipeline()
    directory = tmp_path / "pkg"
    _, root = save_package(
        model,
        directory,
        input_example=frame.head(3),
        source_run_id="run123",
        datasets=[{"name": "train", "digest": "ab" * 32, "context": "training"}],
        metrics={"accuracy": 0.875, "loss": float("nan")},
    )
    return Saved(directory, root, frame, model)


def test_manifest_records_versions_lineage_and_metrics(package: Saved) -> None:
    directory = package.directory
    manifest = read_manifest(directory)
    assert manifest.flavor == "sklearn"
    assert manifest.python_version == platform.python_version()
    assert manifest.library_versions["scikit-learn"] == sklearn.__version__
    assert manifest.library_versions["numpy"] == np.__version__
    assert manifest.library_versions["python"] == platform.python_version()
    assert f"scikit-learn=={sklearn.__version__}" in manifest.requirements
    assert not any(req.startswith(("python", "modelkeep")) for req in manifest.requirements)
    assert manifest.source_run_id == "run123"
    assert manifest.datasets == ({"name": "train", "digest": "ab" * 32, "context": "training"},)
    assert manifest.metrics == {"accuracy": 0.875}
    assert abs(manifest.created_time - time.time() * 1000) < 60_000


def test_manifest_lists_the_sha256_of_every_file(package: Saved) -> None:
    directory = package.directory
    root = package.root
    manifest = read_manifest(directory)
    assert set(manifest.files) == {"model.skops", "input_example.json"}
    for name, digest in manifest.files.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest
    assert verify_package(directory)[1] == root


def test_signature_and_input_example_are_stored(package: Saved) -> None:
    directory = package.directory
    frame = package.frame
    loaded = load_package(directory)
    assert loaded.signature is not None
    assert [c.name for c in loaded.signature.inputs] == ["age", "visits", "city"]
    assert [c.name for c in loaded.signature.outputs] == ["prediction"]
    pd.testing.assert_frame_equal(loaded.input_example, frame.head(3), check_dtype=False)


def test_predict_validates_against_the_signature(package: Saved) -> None:
    directory = package.directory
    frame = package.frame
    model = package.model
    loaded = load_package(directory)
    reordered = frame[["city", "age", "visits"]]
    assert np.array_equal(loaded.predict(reordered), model.predict(frame))
    bad = frame.drop(columns="visits").assign(age="old", extra=1)
    with pytest.raises(InputSchemaError) as caught:
        loaded.predict(bad)
    assert len(caught.value.problems) >= 3


def test_changed_byte_is_refused_naming_the_file(package: Saved) -> None:
    directory = package.directory
    data = bytearray((directory / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0x01
    (directory / "model.skops").write_bytes(bytes(data))
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(directory)
    assert caught.value.field == "model.skops"
    assert "model.skops" in str(caught.value)


def test_edited_manifest_is_refused_against_the_registered_root(package: Saved) -> None:
    directory = package.directory
    root = package.root
    data = json.loads((directory / "MODEL.json").read_text())
    data["metrics"]["accuracy"] = 0.999
    (directory / "MODEL.json").write_text(json.dumps(data))
    assert load_package(directory).manifest.metrics["accuracy"] == 0.999  # no root to hold it to
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(directory, expected_root_digest=root)
    assert caught.value.field == "MODEL.json"


def test_version_root_digest_is_enforced(package: Saved) -> None:
    directory = package.directory
    root = package.root
    good = ModelVersion("churn", 1, "runs:/run123/model", "run123", root)
    loaded = load_package(directory, version=good, uri="models:/churn/1")
    assert loaded.version == good and loaded.uri == "models:/churn/1"
    assert loaded.root_digest == root
    bad = ModelVersion("churn", 2, "runs:/run123/model", "run123", "0" * 64)
    with pytest.raises(PackageIntegrityError):
        load_package(directory, version=bad)


def test_unlisted_file_is_refused(package: Saved) -> None:
    directory = package.directory
    (directory / "extra.py").write_text("import os\n")
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(directory)
    assert caught.value.field == "extra.py"


def test_missing_file_is_refused(package: Saved) -> None:
    directory = package.directory
    (directory / "input_example.json").unlink()
    with pytest.raises(PackageIntegrityError, match="input_example.json is missing"):
        load_package(directory)


def test_symlink_is_refused(package: Saved, tmp_path: Path) -> None:
    directory = package.directory
    target = tmp_path / "elsewhere.skops"
    os.replace(directory / "model.skops", target)
    (directory / "model.skops").symlink_to(target)
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(directory)
    assert "symlink" in str(caught.value)
    assert caught.value.field == "model.skops"


def test_directory_must_be_empty(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = LogisticRegression().fit(features, labels)
    (tmp_path / "pkg").mkdir()
    save_package(model, tmp_path / "pkg")  # an existing empty directory is fine
    with pytest.raises(InvalidInputError) as caught:
        save_package(model, tmp_path / "pkg")
    assert caught.value.field == "directory"


def test_explicit_signature_and_requirements_are_kept(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = LogisticRegression().fit(features, labels)
    signature = infer_signature(features[:2], model.predict(features[:2]))
    manifest, _ = save_package(
        model, tmp_path / "a", signature=signature.to_dict(), requirements=["scikit-learn>=1.5"]
    )
    assert manifest.signature == signature.to_dict()
    assert manifest.requirements == ("scikit-learn>=1.5",)
    assert manifest.input_example is None
    with pytest.raises(InvalidInputError) as caught:
        save_package(model, tmp_path / "b", signature={"input_kind": "graph"})
    assert caught.value.field == "signature"
    assert not (tmp_path / "b").exists()


def test_flavor_that_cannot_save_the_model_is_refused(tmp_path: Path) -> None:
    features, labels = numeric_data()
    with pytest.raises(InvalidInputError) as caught:
        save_package(LinearRegression().fit(features, labels), tmp_path / "pkg", flavor="onnx")
    assert caught.value.field == "flavor"


def test_example_the_model_cannot_predict_on_is_refused_and_cleaned_up(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = LogisticRegression().fit(features, labels)
    with pytest.raises(InvalidInputError) as caught:
        save_package(model, tmp_path / "pkg", input_example=features[:3, :2])
    assert caught.value.field == "input_example"
    assert not (tmp_path / "pkg").exists()


def test_model_without_proba_says_so(tmp_path: Path) -> None:
    features, labels = numeric_data()
    save_package(LinearRegression().fit(features, labels), tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    assert loaded.signature is None and loaded.input_example is None
    with pytest.raises(InvalidInputError) as caught:
        loaded.predict_proba(features)
    assert caught.value.field == "method"


@pytest.mark.parametrize("name", ["../outside.skops", "/tmp/outside.skops"])
def test_flavor_file_outside_the_package_is_refused(
    name: str, package: Saved, tmp_path: Path
) -> None:
    (tmp_path / "outside.skops").write_bytes((package.directory / "model.skops").read_bytes())
    rehash(package.directory, file=name)
    with pytest.raises(PackageIntegrityError) as caught:
        load_package(package.directory)
    assert caught.value.field == "MODEL.json"
    assert "not inside the package" in str(caught.value)


def test_requirements_must_be_a_list(tmp_path: Path) -> None:
    features, labels = numeric_data()
    model = LogisticRegression().fit(features, labels)
    with pytest.raises(InvalidInputError) as caught:
        save_package(model, tmp_path / "pkg", requirements="scikit-learn")  # type: ignore[arg-type]
    assert caught.value.field == "requirements"
