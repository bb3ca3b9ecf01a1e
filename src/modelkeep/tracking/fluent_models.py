"""The module-level model API: ``mk.log_model``, ``mk.register_model``, ``mk.set_alias``,
``mk.load_model``, ``mk.get_model_version``, ``mk.search_model_versions``.

Example:
    >>> import modelkeep as mk
    >>> with mk.start_run(experiment="churn") as run:  # doctest: +SKIP
    ...     info = run.log_model(clf, input_example=X.head(5))
    >>> mv = mk.register_model(info.uri, name="churn", description="Who leaves next month")
    >>> mk.set_alias("churn", "champion", version=mv.version, reason="best AUC")
    >>> m = mk.load_model("models:/churn@champion")
    >>> m.predict(X)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelkeep.entities import AliasChange, ModelVersion, Page, RegisteredModel
from modelkeep.exceptions import InvalidInputError
from modelkeep.tracking.client_models import ModelInfo
from modelkeep.tracking.fluent import _client_and_buffer, active_run

if TYPE_CHECKING:
    from modelkeep.registry.loaded import LoadedModel

__all__ = [
    "delete_alias",
    "get_model_version",
    "get_registered_model",
    "load_model",
    "log_model",
    "register_model",
    "search_model_versions",
    "search_registered_models",
    "set_alias",
]


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Any = None,
    flavor: str | None = None,
    requirements: Sequence[str] | None = None,
) -> ModelInfo:
    """Log ``model`` to the active run (see :meth:`ActiveRun.log_model`)."""
    run = active_run()
    if run is None:
        raise InvalidInputError("no active run: call mk.start_run() first", field="run")
    return run.log_model(
        model,
        name,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        requirements=requirements,
    )


def register_model(
    model_uri: str,
    name: str,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register the package at ``model_uri`` (``runs:/<id>/model``) as the next version of
    ``name``; the registered model is created when missing."""
    client, buffer = _client_and_buffer()
    buffer.flush()
    return client.register_model(model_uri, name, description, tags)


def set_alias(name: str, alias: str, version: int | str, reason: str = "") -> AliasChange:
    """Point ``alias`` (e.g. ``champion``) at ``version``; who, when and why are recorded."""
    client, _ = _client_and_buffer()
    return client.set_alias(name, alias, version, reason)


def delete_alias(name: str, alias: str, reason: str = "") -> AliasChange:
    """Remove an alias (recorded in its history)."""
    client, _ = _client_and_buffer()
    return client.delete_alias(name, alias, reason)


def load_model(uri: str, *, allow_code: bool = False) -> LoadedModel:
    """Load a model from ``runs:/<id>/<path>``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>`` or ``models:/<name>/latest``.

    Every file is re-hashed against the manifest (and a registered version against its
    registered root digest) before anything is deserialised. Pickled code and types off
    modelkeep's allowlist load only with ``allow_code=True``.
    """
    client, _ = _client_and_buffer()
    return client.load_model(uri, allow_code=allow_code)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """One registered version (``version`` may be ``"latest"``)."""
    client, _ = _client_and_buffer()
    return client.get_model_version(name, version)


def get_registered_model(name: str) -> RegisteredModel:
    client, _ = _client_and_buffer()
    return client.get_registered_model(name)


def search_model_versions(
    filter: str = "",  # noqa: A002 - the public name the issue fixes
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[ModelVersion]:
    """Versions matching ``filter``, e.g. ``"name = 'churn' and tags.team = 'a'"``."""
    client, _ = _client_and_buffer()
    return client.search_model_versions(filter, order_by, max_results, page_token)


def search_registered_models(
    filter: str = "",  # noqa: A002
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[RegisteredModel]:
    """Registered models matching ``filter``, e.g. ``"name LIKE 'churn%'"``."""
    client, _ = _client_and_buffer()
    return client.search_registered_models(filter, order_by, max_results, page_token)
