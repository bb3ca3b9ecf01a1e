"""Model URIs: where a model package is, written as text.

* ``runs:/<run_id>/<path>`` - the package logged at ``path`` among a run's artifacts;
* ``models:/<name>/<version>`` - a registered version;
* ``models:/<name>@<alias>`` - the version an alias points at now;
* ``models:/<name>/latest`` - the highest-numbered version.

Example:
    >>> parse_model_uri("models:/churn@champion")
    ModelUri(kind='model', name='churn', alias='champion', version=None, run_id=None, path=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelkeep.exceptions import InvalidInputError

__all__ = ["ModelUri", "parse_model_uri"]

_EXPECTED = (
    "expected runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias> "
    "or models:/<name>/latest"
)


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed model URI. ``kind`` is ``run`` (``run_id`` + ``path``) or ``model`` (``name``
    plus exactly one of ``version``, ``alias``, or ``latest`` as the alias-like marker)."""

    kind: Literal["run", "model"]
    name: str | None = None
    alias: str | None = None
    version: int | None = None
    run_id: str | None = None
    path: str | None = None

    @property
    def latest(self) -> bool:
        return self.kind == "model" and self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.kind == "run":
            return f"runs:/{self.run_id}/{self.path}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.version is None else self.version}"


def _bad(uri: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"bad model URI {uri!r}: {why}; {_EXPECTED}", field="uri")


def parse_model_uri(uri: str) -> ModelUri:
    """Parse a model URI (InvalidInputError, field ``uri``, naming the problem)."""
    text = uri.strip()
    if text.startswith("runs:/"):
        run_id, _, path = text.removeprefix("runs:/").lstrip("/").partition("/")
        path = path.strip("/")
        if not run_id or not path:
            raise _bad(uri, "a run URI needs a run id and an artifact path")
        return ModelUri("run", run_id=run_id, path=path)
    if not text.startswith("models:/"):
        raise _bad(uri, "unknown scheme")
    rest = text.removeprefix("models:/").lstrip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if not name or not alias or "/" in name or "/" in alias:
            raise _bad(uri, "an alias URI is models:/<name>@<alias>")
        return ModelUri("model", name=name, alias=alias)
    name, _, version = rest.rpartition("/")
    if not name or not version:
        raise _bad(uri, "a model URI needs a name and a version")
    if "/" in name:
        raise _bad(uri, "model names cannot contain '/'")
    if version == "latest":
        return ModelUri("model", name=name)
    if not version.isdigit() or int(version) < 1:
        raise _bad(uri, f"version {version!r} is not a positive integer, 'latest' or @alias")
    return ModelUri("model", name=name, version=int(version))
