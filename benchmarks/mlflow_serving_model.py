"""Save the serving benchmark's model as an MLflow model (run by MLflow's own interpreter).

``python benchmarks/mlflow_serving_model.py OUT_DIR`` trains the same
``RandomForestClassifier(n_estimators=100, random_state=0)`` on scikit-learn's breast_cancer
table as ``benchmarks/serving.py`` does, and saves it with ``mlflow.sklearn.save_model`` (skops
format with the tree type trusted, as MLflow 3.17 requires) plus a signature and input example.
"""

from __future__ import annotations

import sys

import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier


def main(out_dir: str) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    mlflow.sklearn.save_model(
        model,
        out_dir,
        signature=infer_signature(X.head(5), model.predict(X.head(5))),
        input_example=X.head(5),
        serialization_format="skops",
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )


if __name__ == "__main__":
    main(sys.argv[1])
