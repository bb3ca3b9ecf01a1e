"""Code-running flavors (python_function, pickle) and the flavor table itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from modelkeep.exceptions import AlreadyExistsError, InvalidInputError, UnsafeModelError
from modelkeep.registry.flavors import (
    Flavor,
    FlavorModel,
    SavedFlavor,
    available_flavors,
    detect_flavor,
    get_flavor,
    register_flavor,
)
from modelkeep.registry.flavors.pyfunc import PythonModel
from modelkeep.registry.package import load_package, save_package


class Scaler(PythonModel):
    """Multiplies its input by a factor read from an artifact at load time."""

    def __init__(self, weights: Path, marker: Path) -> None:
        self.artifacts = {"weights": weights}
        self.marker = marker
        self.factor = 0.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Runs while unpickling: shows whether loading executed package code.
        Path(state["marker"]).touch()
        self.__dict__.update(state)

    def load_context(self, artifacts: Mapping[str, Path]) -> None:
        self.factor = json.loads(artifacts["weights"].read_text())["factor"]

    def predict(self, data: Any) -> Any:
        return np.asarray(data) * self.factor


class Thresholder(PythonModel):
    def predict(self, data: Any) -> Any:
        return (np.asarray(data)[:, 0] > 0).astype(int)

    def predict_proba(self, data: Any) -> Any:
        positive = (np.asarray(data)[:, 0] > 0).astype(float)
        return np.column_stack([1 - positive, positive])


class Plain:
    """Not a PythonModel, not a known library: only the pickle flavor takes it."""

    def __init__(self) -> None:
        self.offset = 3

    def predict(self, data: Any) -> Any:
        return np.asarray(data) + self.offset


def _scaler(tmp_path: Path) -> Scaler:
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"factor": 2.5}))
    return Scaler(weights, tmp_path / "unpickled")


def test_python_model_is_refused_without_allow_code(tmp_path: Path) -> None:
    model = _scaler(tmp_path)
    save_package(model, tmp_path / "pkg")
    with pytest.raises(UnsafeModelError) as caught:
        load_package(tmp_path / "pkg")
    assert "allow_code=True" in str(caught.value)
    assert "python_function" in str(caught.value)
    assert not model.marker.exists()


def test_python_model_loads_with_allow_code_and_reads_its_artifact(tmp_path: Path) -> None:
    save_package(_scaler(tmp_path), tmp_path / "pkg")
    (tmp_path / "weights.json").unlink()  # the package holds its own copy
    loaded = load_package(tmp_path / "pkg", allow_code=True)
    assert loaded.flavor == "python_function"
    assert np.array_equal(loaded.predict(np.array([[1.0, 2.0]])), [[2.5, 5.0]])
    assert (tmp_path / "pkg" / "artifacts" / "weights").is_file()
    assert loaded.has_proba is False
    with pytest.raises(InvalidInputError) as caught:
        loaded.predict_proba(np.array([[1.0]]))
    assert caught.value.field == "method"


def test_python_model_with_predict_proba(tmp_path: Path) -> None:
    save_package(Thresholder(), tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg", allow_code=True)
    data = np.array([[1.0], [-1.0]])
    assert loaded.has_proba is True
    assert np.array_equal(loaded.predict_proba(data), [[0.0, 1.0], [1.0, 0.0]])


def test_python_model_signature_is_inferred_from_its_example(tmp_path: Path) -> None:
    example = pd.DataFrame({"x": [1.0, -2.0]})
    manifest, _ = save_package(Thresholder(), tmp_path / "pkg", input_example=example)
    assert manifest.signature is not None
    assert [c["name"] for c in manifest.signature["inputs"]] == ["x"]
    assert manifest.signature["outputs"][0]["dtype"] == "int64"


def test_bad_artifact_name_is_refused(tmp_path: Path) -> None:
    model = Thresholder()
    model.artifacts = {"../escape": tmp_path}
    with pytest.raises(InvalidInputError) as caught:
        save_package(model, tmp_path / "pkg")
    assert caught.value.field == "artifacts"
    assert not (tmp_path / "pkg").exists()


def test_pickle_flavor_is_the_last_resort_and_refused_without_allow_code(tmp_path: Path) -> None:
    assert detect_flavor(Plain()).name == "pickle"
    save_package(Plain(), tmp_path / "pkg")
    with pytest.raises(UnsafeModelError, match="allow_code=True"):
        load_package(tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg", allow_code=True)
    assert np.array_equal(loaded.predict(np.array([1, 2])), [4, 5])


def test_object_without_predict_has_no_flavor() -> None:
    with pytest.raises(InvalidInputError) as caught:
        detect_flavor(object())
    assert caught.value.field == "flavor"
    assert "flavor=" in str(caught.value)
    assert "PythonModel" in str(caught.value)


def test_unknown_flavor_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        get_flavor("tensorflow")
    assert caught.value.field == "flavor"
    assert "sklearn" in str(caught.value) and "onnx" in str(caught.value)


def test_detection_order_puts_libraries_before_sklearn_before_code() -> None:
    names = available_flavors()
    assert {"lightgbm", "xgboost", "onnx", "sklearn", "python_function", "pickle"} <= set(names)
    for library in ("lightgbm", "xgboost", "onnx"):
        assert names.index(library) < names.index("sklearn")
    assert names.index("sklearn") < names.index("python_function") < names.index("pickle")
    assert get_flavor("pickle").runs_code and get_flavor("python_function").runs_code
    assert not get_flavor("sklearn").runs_code


def test_scanning_the_table_imports_no_framework() -> None:
    code = (
        "import sys; from modelkeep.registry.flavors import available_flavors; "
        "available_flavors(); "
        "print([m for m in ('sklearn', 'lightgbm', 'xgboost', 'onnx', 'onnxruntime', "
        "'skops', 'cloudpickle') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


class Linear:
    def __init__(self, slope: float) -> None:
        self.slope = slope


class _LinearModel(FlavorModel):
    def __init__(self, model: Linear) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        return self._model

    def predict(self, data: Any) -> Any:
        return np.asarray(data) * self._model.slope


class LinearJsonFlavor(Flavor):
    """A user flavor: Linear models as JSON, no code."""

    name: ClassVar[str] = "test_linear_json"
    priority: ClassVar[int] = 10

    @classmethod
    def handles(cls, model: Any) -> bool:
        return isinstance(model, Linear)

    def save(self, model: Any, directory: Path) -> SavedFlavor:
        (directory / "linear.json").write_text(json.dumps({"slope": model.slope}))
        return SavedFlavor({"file": "linear.json"}, {}, [])

    def load(
        self, directory: Path, options: Mapping[str, Any], *, allow_code: bool
    ) -> FlavorModel:
        data = json.loads((directory / options["file"]).read_text())
        return _LinearModel(Linear(data["slope"]))


def test_register_flavor_adds_a_user_flavor(tmp_path: Path) -> None:
    register_flavor(LinearJsonFlavor)
    assert "test_linear_json" in available_flavors()
    assert detect_flavor(Linear(2.0)).name == "test_linear_json"
    manifest, _ = save_package(Linear(2.0), tmp_path / "pkg")
    assert manifest.flavor == "test_linear_json"
    assert set(manifest.files) == {"linear.json"}
    assert np.array_equal(load_package(tmp_path / "pkg").predict([1.0, 3.0]), [2.0, 6.0])


def test_register_flavor_refuses_a_taken_name() -> None:
    class Impostor(LinearJsonFlavor):
        name: ClassVar[str] = "sklearn"

    with pytest.raises(AlreadyExistsError):
        register_flavor(Impostor)
    with pytest.raises(InvalidInputError):
        register_flavor(Linear)  # type: ignore[arg-type]
