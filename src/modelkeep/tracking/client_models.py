"""The model half of :class:`~modelkeep.tracking.client.Client`: log, register, alias, load.

Every operation here is built from the store contract (:class:`~modelkeep.store.base.BaseStore`)
and the run artifact repository, so it behaves the same on SQLite, PostgreSQL and a server.
A package is always re-hashed against its manifest before it is used, and a registered
version's package must also match the root digest the registry holds.
"""

from __future__ import annotations

import abc
import getpass
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.entities import AliasChange, ModelVersion, Page, RegisteredModel
from modelkeep.exceptions import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from modelkeep.registry.manifest import MANIFEST_FILE, Manifest, verify_package
from modelkeep.registry.uris import ModelUri, parse_model_uri

if TYPE_CHECKING:
    from modelkeep.artifacts import BaseRunArtifactRepository
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.store import BaseStore

__all__ = ["ModelInfo", "ModelsMixin", "default_actor"]


def default_actor() -> str:
    """Who the local user is, for ``created_by`` and alias history (the server uses tokens)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What :meth:`ModelsMixin.log_model` stored: the package URI and its identity."""

    uri: str
    run_id: str
    artifact_path: str
    flavor: str
    root_digest: str
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model URI's package lives, and the registered version when there is one."""

    run_id: str
    path: str
    version: ModelVersion | None


class ModelsMixin(abc.ABC):
    """Model operations of the tracking client (mixed into ``Client``, which provides the
    store and the artifact repository)."""

    store: BaseStore

    @property
    @abc.abstractmethod
    def artifacts(self) -> BaseRunArtifactRepository:
        """The run artifact repository packages are written to and read from."""

    # ---- packages ----------------------------------------------------------------------
    def log_model(
        self,
        run_id: str,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        requirements: Sequence[str] | None = None,
    ) -> ModelInfo:
        """Save ``model`` as a package among the run's artifacts under ``name``.

        The manifest records the run's datasets and latest metrics. Refuses (ConflictError)
        when the run already has artifacts under ``name``: a package is written once.
        """
        from modelkeep.artifacts import validate_artifact_path
        from modelkeep.registry.package import save_package

        if not name.rstrip("/"):
            raise InvalidInputError("a model needs a name (its artifact path)", field="name")
        name = validate_artifact_path(name.rstrip("/"))
        run = self.store.get_run(run_id)
        self._refuse_overlap(run_id, name)
        datasets = [{"name": d.name, "digest": d.digest, "context": d.context} for d in run.inputs]
        with tempfile.TemporaryDirectory(prefix="modelkeep-package-") as tmp:
            package = Path(tmp) / "package"
            package.mkdir()
            manifest, digest = save_package(
                model,
                package,
                flavor=flavor,
                input_example=input_example,
                signature=signature,
                requirements=requirements,
                source_run_id=run_id,
                datasets=datasets,
                metrics=dict(run.metrics),
            )
            self.artifacts.log_dir(run_id, package, name)
        uri = f"runs:/{run_id}/{name}"
        return ModelInfo(uri, run_id, name, manifest.flavor, digest, manifest)

    def _refuse_overlap(self, run_id: str, name: str) -> None:
        """A package is written once and never nested in another (that would change the
        outer package's files and break every version registered from it)."""
        if self.artifacts.list(run_id, name):
            raise ConflictError(f"run {run_id} already has artifacts under {name!r}", field="name")
        parts = name.split("/")
        for depth in range(1, len(parts)):
            outer = "/".join(parts[:depth])
            if any(
                r.path == f"{outer}/{MANIFEST_FILE}" for r in self.artifacts.list(run_id, outer)
            ):
                raise ConflictError(
                    f"{name!r} lies inside the model package {outer!r} of run {run_id}",
                    field="name",
                )

    def resolve_model_uri(self, uri: str | ModelUri) -> ResolvedModel:
        """The run and artifact path behind any model URI (NotFoundError when unknown)."""
        parsed = parse_model_uri(uri) if isinstance(uri, str) else uri
        if parsed.kind == "run":
            assert parsed.run_id is not None and parsed.path is not None
            return ResolvedModel(parsed.run_id, parsed.path, None)
        version = self._version_for(parsed)
        source = parse_model_uri(version.source)
        if source.kind != "run":
            raise InvalidInputError(f"version source {version.source!r} is not a runs:/ URI")
        assert source.run_id is not None and source.path is not None
        return ResolvedModel(source.run_id, source.path, version)

    def _version_for(self, parsed: ModelUri) -> ModelVersion:
        assert parsed.name is not None
        if parsed.alias is not None:
            return self.store.get_model_version_by_alias(parsed.name, parsed.alias)
        if parsed.version is not None:
            return self.store.get_model_version(parsed.name, parsed.version)
        return self.store.get_latest_model_version(parsed.name)

    def download_model(self, uri: str, dst: str | Path) -> tuple[Path, Manifest, str]:
        """Download a package into ``dst`` and verify it; returns (dir, manifest, root digest).

        Raises PackageIntegrityError when a file differs from the manifest, or when the
        package is not the one the registry registered for a ``models:/`` URI.
        """
        resolved = self.resolve_model_uri(uri)
        target = self._fetch(resolved, uri, Path(dst))
        expected = resolved.version.root_digest if resolved.version else None
        manifest, digest = verify_package(target, expected)
        return target, manifest, digest

    def _fetch(self, resolved: ResolvedModel, uri: str, target: Path) -> Path:
        """Copy the package's files into ``target`` (not verified yet)."""
        if target.exists() and any(target.iterdir()):
            raise InvalidInputError(f"{target} is not empty", field="dst")
        target.mkdir(parents=True, exist_ok=True)
        try:
            records = self.artifacts.list(resolved.run_id, resolved.path)
        except NotFoundError:
            records = []
        if not records:
            raise NotFoundError(f"no model package at {uri}", field="uri")
        staging = target / ".download"
        self.artifacts.download(resolved.run_id, resolved.path, staging)
        for item in (staging / resolved.path).iterdir():
            item.rename(target / item.name)
        shutil.rmtree(staging)
        return target

    def _verified_manifest(self, uri: str) -> Manifest:
        """Download the package to a temporary folder, re-hash it (against the registered
        root digest for ``models:/``) and return its manifest."""
        with self._package_dir(uri) as (_, manifest, _):
            return manifest

    @contextmanager
    def _package_dir(self, uri: str) -> Iterator[tuple[Path, Manifest, str]]:
        with tempfile.TemporaryDirectory(prefix="modelkeep-model-") as tmp:
            yield self.download_model(uri, Path(tmp) / "package")

    def load_model(self, uri: str, *, allow_code: bool = False) -> LoadedModel:
        """Download, verify and load a model package.

        Args:
            uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``,
                ``models:/<name>@<alias>`` or ``models:/<name>/latest``.
            allow_code: trust pickled code and types off modelkeep's allowlist.
        """
        from modelkeep.registry.package import load_package

        resolved = self.resolve_model_uri(uri)
        directory = Path(tempfile.mkdtemp(prefix="modelkeep-model-"))
        try:
            self._fetch(resolved, uri, directory / "package")  # load_package verifies it
            expected = resolved.version.root_digest if resolved.version else None
            loaded = load_package(
                directory / "package",
                allow_code=allow_code,
                expected_root_digest=expected,
                uri=uri,
                version=resolved.version,
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        # The files stay while the model lives: user code may read them after loading.
        weakref.finalize(loaded, shutil.rmtree, directory, True)
        return loaded

    # ---- registry ----------------------------------------------------------------------
    def register_model(
        self,
        model_uri: str,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Register the package at ``model_uri`` as the next version of ``name``.

        The registered model is created when missing (with ``description``); the version
        records the package's root digest after its files are verified and its flavor has
        checked them without deserialising anything (a disguised pickle is refused here).
        """
        from modelkeep.registry.package import audit_package

        who = default_actor() if actor is None else actor
        resolved = self.resolve_model_uri(model_uri)
        expected = resolved.version.root_digest if resolved.version else None
        with tempfile.TemporaryDirectory(prefix="modelkeep-register-") as tmp:
            package = self._fetch(resolved, model_uri, Path(tmp) / "package")
            # digests, then the flavor's own look at its files: nothing is deserialised
            manifest, digest = audit_package(package, expected)
        self._ensure_registered_model(name, description, who)
        source = f"runs:/{resolved.run_id}/{resolved.path}"
        return self.store.create_model_version(
            name,
            source,
            digest,
            run_id=resolved.run_id,
            flavor=manifest.flavor,
            description=description,
            tags=tags,
            actor=who,
        )

    def _ensure_registered_model(self, name: str, description: str, actor: str) -> None:
        """Create the registered model with ``description`` unless it exists."""
        try:
            self.store.get_registered_model(name)
        except NotFoundError:
            try:
                self.store.create_registered_model(name, description=description, actor=actor)
            except AlreadyExistsError:
                pass  # another process created it first

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        return self.store.search_registered_models(
            filter_string, order_by, max_results, page_token
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; ``version`` may also be ``"latest"``."""
        if str(version) == "latest":
            return self.store.get_latest_model_version(name)
        return self.store.get_model_version(name, _version_number(version))

    def search_model_versions(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        return self.store.search_model_versions(filter_string, order_by, max_results, page_token)

    def set_alias(
        self, name: str, alias: str, version: int | str, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        """Point ``alias`` at ``version`` of ``name`` and record who, when and why."""
        who = default_actor() if actor is None else actor
        return self.store.set_model_alias(name, alias, _version_number(version), reason, who)

    def delete_alias(
        self, name: str, alias: str, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        who = default_actor() if actor is None else actor
        return self.store.delete_model_alias(name, alias, reason, who)

    def rollback_alias(
        self,
        name: str,
        alias: str = "champion",
        reason: str = "",
        actor: str | None = None,
    ) -> AliasChange:
        """Point ``alias`` back at the version it pointed at before its current one.

        The alias history is read newest first; moves to the current version, removals of
        the alias and versions deleted since are skipped, and the first other version found
        is the one the alias goes back to. The move is recorded like any other, with
        ``reason`` (``"rollback"`` when empty), so a second rollback undoes the first.

        Example:
            >>> client.rollback_alias("churn")  # doctest: +SKIP
            AliasChange(name='churn', alias='champion', version=1, previous_version=2, ...)

        Raises:
            NotFoundError: no such registered model, or ``alias`` is not set.
            InvalidInputError: (``field="alias"``) the alias never pointed at another
                version that still exists.
        """
        current = self.store.get_model_version_by_alias(name, alias).version
        target = self._version_before(name, alias, current)
        if target is None:
            raise InvalidInputError(
                f"{name}@{alias} has pointed only at version {current}: there is no earlier "
                "version to roll back to",
                field="alias",
            )
        return self.set_alias(name, alias, target, reason or "rollback", actor)

    def _version_before(self, name: str, alias: str, current: int) -> int | None:
        """The newest version in ``alias``'s history other than ``current`` that still exists."""
        for change in reversed(self.store.list_alias_history(name, alias)):
            if change.version is None or change.version == current:
                continue
            try:
                self.store.get_model_version(name, change.version)
            except NotFoundError:
                continue  # deleted since: nothing to go back to
            return change.version
        return None


def _version_number(version: int | str) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"version {version!r} is not an integer", field="version"
        ) from None
    if number < 1:
        raise InvalidInputError("version numbers start at 1", field="version")
    return number
