"""Retraining: rerun the champion's stored training config on refreshed data and register
the result as the challenger.

The config is the ``config.yaml`` its training run stored (a tuned model's refit run stores
the best parameters there), read back with the data paths the run recorded. The refreshed
table is written as Parquet under ``<home>/maintain/<model>/`` and becomes ``data.train``;
a separate test file, if the config had one, is kept. The new version is registered under
the same name, with lineage tags naming its parent version, both data sources and the
decision that asked for it, and the challenger alias is pointed at it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.store.search_tokens import render_quoted
from modelkeep.tracking import Client
from modelkeep.train.config import TrainConfig, load_train_config

__all__ = [
    "LINEAGE_PREFIX",
    "find_retrained",
    "original_data",
    "retrain_challenger",
    "training_config",
    "tuning_config",
]

LINEAGE_PREFIX = "modelkeep.lineage."


def training_config(client: Client, version: ModelVersion) -> TrainConfig:
    """The checked training config of ``version``'s run, data paths as the run recorded them.

    Raises:
        NotFoundError: the version was not trained by ``modelkeep train``/``tune`` (its run
            has no ``config.yaml``).
    """
    if not version.run_id:
        raise NotFoundError(f"{version.name} v{version.version} has no training run")
    try:
        text = client.read_artifact(version.run_id, "config.yaml").decode("utf-8")
    except NotFoundError:
        raise NotFoundError(
            f"{version.name} v{version.version}: its run {version.run_id} has no config.yaml "
            "(retraining needs a model trained with modelkeep train or tune)"
        ) from None
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise InvalidInputError("the stored config.yaml is not a mapping", field="config")
    params = client.get_run(version.run_id).params
    data = {"train": params.get("data.train", "")}
    if params.get("data.test"):
        data["test"] = params["data.test"]
    document["data"] = data  # absolute, as resolved when the model was trained
    document.pop("tune", None)
    return load_train_config(document)


def tuning_config(client: Client, version: ModelVersion) -> dict[str, Any] | None:
    """The ``tune.yaml`` of the study whose refit produced ``version`` (as a mapping, data
    paths as the refit recorded them), or None when it was not tuned."""
    if not version.run_id:
        return None
    run = client.get_run(version.run_id)
    if not run.parent_run_id:
        return None
    try:
        text = client.read_artifact(run.parent_run_id, "tune.yaml").decode("utf-8")
    except NotFoundError:
        return None
    document = yaml.safe_load(text)
    return document if isinstance(document, dict) else None


def original_data(config: TrainConfig, columns: list[str] | None = None) -> pd.DataFrame:
    """The original training table, or just ``columns`` of it.

    Raises:
        NotFoundError: its file is gone.
        InvalidInputError: (``field="retrain.include_original"``) it lacks one of ``columns``
            (the file changed since the champion was trained).
    """
    from modelkeep.data.io import read_table

    path = Path(config.data.train)
    if not path.is_file():
        raise NotFoundError(
            f"the original training data {path} is gone; set retrain.include_original: false "
            "to retrain on production rows alone"
        )
    table = read_table(path)
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InvalidInputError(
            f"the original training data {path} has changed: it lacks {', '.join(missing)}; "
            "restore it or set retrain.include_original: false",
            field="retrain.include_original",
        )
    return table[columns]


def retrain_challenger(
    client: Client,
    config: TrainConfig,
    train_rows: pd.DataFrame,
    *,
    home: Path,
    champion: ModelVersion,
    challenger_alias: str,
    lineage: dict[str, Any],
    tuning: dict[str, Any] | None = None,
    tune_trials: int | None = None,
) -> tuple[ModelVersion, str]:
    """Train ``config`` on ``train_rows`` (or, given the champion's ``tuning`` config, rerun
    that study with ``tune_trials`` trials and take its refit), register the result as the
    next version of the champion's model and point ``challenger_alias`` at it.

    Returns:
        (the new version, its training run id).
    """
    import modelkeep as mk
    from modelkeep.tracking.fluent import get_tracking_uri

    path = _write_rows(home, champion.name, train_rows)
    updated = config.model_dump(mode="json")
    if tuning is not None:  # the study's own config: its search space, sampler, pruner
        updated = {**tuning, "features": config.features}
        updated["tune"] = {**(tuning.get("tune") or {}), "n_trials": tune_trials,
                           "study": None, "timeout": None}  # fmt: skip
    updated["data"] = {"train": str(path), "test": config.data.test}
    updated["register"] = None
    updated["run_name"] = f"retrain {champion.name} (from v{champion.version})"
    previous = get_tracking_uri()
    mk.set_tracking_uri(client.uri)
    try:
        model_uri, run_id = _fit(updated, tuning is not None)
    finally:
        mk.set_tracking_uri(previous)
    tags = {f"{LINEAGE_PREFIX}{k}": str(v)[:5000] for k, v in lineage.items()}
    tags[f"{LINEAGE_PREFIX}parent_version"] = str(champion.version)
    tags[f"{LINEAGE_PREFIX}training_data"] = str(path)
    tags[f"{LINEAGE_PREFIX}retrained_by"] = "tune" if tuning is not None else "train"
    version = client.register_model(model_uri, champion.name, tags=tags)
    client.set_alias(
        champion.name, challenger_alias, version.version,
        reason=f"retrained from v{champion.version} ({lineage.get('decision', 'policy')})",
    )  # fmt: skip
    return version, run_id


def _fit(document: dict[str, Any], tuned: bool) -> tuple[str, str]:
    """(model URI, run id) of a training, or of a tuning study's refit."""
    if not tuned:
        from modelkeep.train import train

        result = train(load_train_config(document))
        return result.model_uri, result.run_id
    from modelkeep.tune import tune

    study = tune(document, progress=False)
    if study.model_uri is None or study.refit_run_id is None:
        raise InvalidInputError(
            "the retuned study produced no refit model (tune.refit is false?)",
            field="retrain.tune_trials",
        )
    return study.model_uri, study.refit_run_id


def find_retrained(client: Client, model: str, decision: str) -> ModelVersion | None:
    """The version a decision already registered (its lineage names the decision), if any:
    a process stopped between registering and saving the record must not train again."""
    for version in client.search_model_versions(f"name = {render_quoted(model, chr(39))}"):
        if version.tags.get(f"{LINEAGE_PREFIX}decision") == decision:
            return version
    return None


def _write_rows(home: Path, model: str, rows: pd.DataFrame) -> Path:
    folder = Path(home) / "maintain" / _safe(model)
    folder.mkdir(parents=True, exist_ok=True)
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()
    digest = hashlib.sha256(hashed).hexdigest()
    path = folder / f"train-{digest[:16]}.parquet"
    if not path.exists():
        partial = path.with_suffix(".partial")
        rows.to_parquet(partial, index=False)
        partial.replace(path)
    return path


def _safe(name: str) -> str:
    """A folder name for ``name`` that cannot leave ``maintain/`` (no separators, no dots
    first)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cleaned.lstrip(".") or "model"
