"""The allowlist of types a skops file may hold without allow_code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from flavor_support import numeric_data
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from modelkeep.registry.allowlist import is_allowed, untrusted


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.metrics._scorer._Scorer",
        "sklearn.metrics._classification.accuracy_score",
        "sklearn.model_selection._split.StratifiedKFold",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float32",
        "numpy.dtypes.Float64DType",
        "numpy.random.mtrand.RandomState",
        "numpy.random.PCG64",
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._coo.coo_array",
        "builtins.frozenset",
        "builtins.NoneType",
    ],
)
def test_allowed(name: str) -> None:
    assert is_allowed(name)


@pytest.mark.parametrize(
    "name",
    [
        "posix.system",
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.__import__",
        "_operator.neg",
        "sklearn.datasets._openml.fetch_openml",
        "sklearn.utils._testing.TempMemmap",
        "sklearn.utils._mocking.CheckingClassifier",
        "sklearn.externals._packaging.version.Version",
        "sklearn.tests.test_base.MyEstimator",
        "lightgbm.sklearn.LGBMClassifier",
        "xgboost.sklearn.XGBClassifier",
        "numpy.load",
        "mypackage.sklearn.Estimator",
        "sklearnx.Evil",
    ],
)
def test_refused(name: str) -> None:
    assert not is_allowed(name)


def test_untrusted_sorts_and_deduplicates() -> None:
    names = ["posix.system", "sklearn.tree._tree.Tree", "_operator.neg", "posix.system"]
    assert untrusted(names) == ["_operator.neg", "posix.system"]


def test_every_type_skops_reports_for_common_models_is_allowed(tmp_path: Path) -> None:
    features, labels = numeric_data()
    models = [
        RandomForestClassifier(n_estimators=2, random_state=np.random.RandomState(0)),
        HistGradientBoostingClassifier(max_iter=2),
        GridSearchCV(LogisticRegression(), {"C": [0.5, 1.0]}, scoring="accuracy", cv=2),
    ]
    for index, model in enumerate(models):
        path = tmp_path / f"{index}.skops"
        skops.io.dump(model.fit(features, labels), path)
        reported = skops.io.get_untrusted_types(file=path)
        assert reported
        assert untrusted(reported) == []
