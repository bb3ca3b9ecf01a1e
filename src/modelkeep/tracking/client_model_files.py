"""Client operations that read a registered version's package: sign, verify, export, import,
model card. Each re-hashes the package against the registry's root digest first, so nothing is
signed, exported or described that is not exactly what was registered."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.entities import ModelVersion, RunStatus, VersionSignature, now_ms
from modelkeep.exceptions import InvalidInputError, ModelkeepError, NotFoundError, SignatureError
from modelkeep.registry import signing
from modelkeep.store.registry_validation import check_model_name
from modelkeep.tracking.client_models import ModelsMixin, default_actor

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["ModelFilesMixin", "SignatureCheck", "VerificationReport"]

IMPORT_EXPERIMENT = "Model imports"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One stored signature of a version, checked: does it verify, is its key trusted."""

    key_id: str
    signed_by: str
    valid: bool
    trusted: bool


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """Result of :meth:`ModelFilesMixin.verify_model_version`.

    ``ok`` is True when the package matches its registered root digest and at least one
    signature verifies with a trusted key: the model's own trusted keys or the ones passed in.
    A valid signature from an untrusted key proves nothing (anyone can make a key).
    """

    name: str
    version: int
    root_digest: str
    signatures: tuple[SignatureCheck, ...]
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root_digest": self.root_digest,
            "ok": self.ok,
            "signatures": [
                {
                    "key_id": s.key_id,
                    "signed_by": s.signed_by,
                    "valid": s.valid,
                    "trusted": s.trusted,
                }
                for s in self.signatures
            ],
        }


class ModelFilesMixin(ModelsMixin):
    """Sign, verify, export, import and describe registered versions."""

    def _registered(self, uri: str) -> ModelVersion:
        resolved = self.resolve_model_uri(uri)
        if resolved.version is None:
            raise InvalidInputError(
                f"{uri} is not a registered version; use models:/<name>/<version>", field="uri"
            )
        return resolved.version

    def sign_model_version(
        self, uri: str, private_key: Ed25519PrivateKey, actor: str | None = None
    ) -> VersionSignature:
        """Verify the package against the registry, then store an ed25519 signature of its
        root digest."""
        version = self._registered(uri)
        self._verified_manifest(uri)  # never sign a package that differs from the registered one
        public_key, signature = signing.sign_root_digest(private_key, version.root_digest)
        who = default_actor() if actor is None else actor
        return self.store.add_model_version_signature(
            version.name, version.version, public_key, signature, who
        )

    def verify_model_version(
        self, uri: str, trusted_keys: Sequence[str] = ()
    ) -> VerificationReport:
        """Re-hash the package (PackageIntegrityError if it changed) and check every stored
        signature against the model's trusted keys plus ``trusted_keys`` (base64)."""
        version = self._registered(uri)
        self._verified_manifest(uri)  # PackageIntegrityError if a file changed
        model = self.store.get_registered_model(version.name)
        trusted = set(model.trusted_keys) | set(trusted_keys)
        checks = tuple(
            SignatureCheck(
                sig.key_id,
                sig.signed_by,
                signing.verify_signature(sig.public_key, sig.signature, version.root_digest),
                sig.public_key in trusted,
            )
            for sig in version.signatures
        )
        ok = any(c.valid and c.trusted for c in checks)
        return VerificationReport(version.name, version.version, version.root_digest, checks, ok)

    def export_model_version(self, uri: str, destination: str | Path) -> Path:
        """Write one registered version (package + registry metadata) as a ``.tar.gz``."""
        from modelkeep.registry.archive import export_version

        version = self._registered(uri)
        with self._package_dir(uri) as (package, _, _):
            return export_version(package, _export_metadata(version), Path(destination))

    def import_model_version(
        self, archive: str | Path, name: str | None = None, actor: str | None = None
    ) -> ModelVersion:
        """Register the version inside an exported archive as the next version of ``name``
        (default: the name it was exported under), with its description, tags and signatures.

        Everything is checked before anything is stored: safe extraction, the package digests
        against the archive's root digest, the flavor's audit of its files, the metadata's
        shape and every signature. The package is then logged to a run of the
        ``Model imports`` experiment and registered; the signatures are recorded as added by
        the importer. A failure after that point undoes the version and deletes the run.
        """
        from modelkeep.registry.archive import import_version
        from modelkeep.registry.package import audit_package

        who = default_actor() if actor is None else actor
        with tempfile.TemporaryDirectory(prefix="modelkeep-import-") as tmp:
            package, meta = import_version(Path(archive), Path(tmp) / "extract")
            imported = _ImportedMetadata.parse(meta, name)
            manifest, digest = audit_package(package, str(meta["root_digest"]))
            imported.check_signatures(digest)
            check_model_name(imported.name)
            experiment = self.store.get_or_create_experiment(IMPORT_EXPERIMENT)
            run = self.store.create_run(experiment.id, run_name=f"import {imported.name}")
            version: ModelVersion | None = None
            try:
                self.artifacts.log_dir(run.id, package, "model")
                self._ensure_registered_model(imported.name, imported.description, who)
                version = self.store.create_model_version(
                    imported.name,
                    f"runs:/{run.id}/model",
                    digest,
                    run_id=run.id,
                    flavor=manifest.flavor,
                    description=imported.description,
                    tags=imported.tags,
                    actor=who,
                )
                for public_key, signature in imported.signatures:
                    self.store.add_model_version_signature(
                        version.name, version.version, public_key, signature, who
                    )
            except BaseException:
                self._undo_import(run.id, version, who)
                raise
        self.store.update_run(run.id, status=RunStatus.FINISHED, end_time=now_ms())
        return self.store.get_model_version(version.name, version.version)

    def _undo_import(self, run_id: str, version: ModelVersion | None, actor: str) -> None:
        try:
            if version is not None:
                self.store.delete_model_version(
                    version.name, version.version, force=True, actor=actor
                )
            self.store.update_run(run_id, status=RunStatus.FAILED, end_time=now_ms())
            self.store.delete_run(run_id)
        except ModelkeepError:
            pass  # the original error is the one to report

    def write_model_card(self, uri: str, directory: str | Path) -> tuple[Path, Path]:
        """Write ``<name>-v<version>.md`` and ``.html`` model cards into ``directory``."""
        from modelkeep.registry.card import render_card, write_card

        version = self._registered(uri)
        model = self.store.get_registered_model(version.name)
        manifest = self._verified_manifest(uri)
        run = None
        if version.run_id:
            try:
                run = self.store.get_run(version.run_id)
            except NotFoundError:
                run = None
        history = self.store.list_alias_history(version.name)
        from modelkeep.tracking.card_data import card_reports

        reports = card_reports(self, version)  # type: ignore[arg-type]
        card = render_card(
            model, version, manifest, run, history, self._decisions(version.name), reports
        )
        stem = f"{_file_stem(version.name)}-v{version.version}"
        return write_card(card, Path(directory), stem)

    def _decisions(self, name: str) -> list[dict[str, Any]]:
        """The model's maintenance decision records for its card (read lazily: the
        maintenance package sits above this one and only stores runs and artifacts)."""
        from modelkeep.maintain.decisions import list_decisions

        return [record.to_dict() for record in list_decisions(self, name, limit=200)]  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _ImportedMetadata:
    """The registry fields of an archive's ``VERSION.json``, shape-checked."""

    name: str
    description: str
    tags: dict[str, str]
    signatures: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, meta: Mapping[str, Any], name: str | None) -> _ImportedMetadata:
        target = name if name is not None else meta.get("name")
        if not isinstance(target, str) or not target:
            raise InvalidInputError("the archive names no model; pass a name", field="name")
        description = meta.get("description") or ""
        if not isinstance(description, str):
            raise InvalidInputError("VERSION.json: description is not text", field="description")
        tags = meta.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise InvalidInputError("VERSION.json: tags is not a text map", field="tags")
        return cls(target, description, dict(tags), _parse_signatures(meta.get("signatures")))

    def check_signatures(self, root_digest: str) -> None:
        for public_key, signature in self.signatures:
            if not signing.verify_signature(public_key, signature, root_digest):
                raise SignatureError(
                    f"the archive's signature by key {signing.key_id(public_key)} does not "
                    "verify against its package; it was altered, so nothing was imported"
                )


def _parse_signatures(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    bad = InvalidInputError(
        "VERSION.json: signatures must be a list of {public_key, signature}", field="signatures"
    )
    if not isinstance(value, list):
        raise bad
    found = []
    for item in value:
        if not isinstance(item, dict):
            raise bad
        public_key, signature = item.get("public_key"), item.get("signature")
        if not isinstance(public_key, str) or not isinstance(signature, str):
            raise bad
        found.append((public_key, signature))
    return tuple(found)


def _export_metadata(version: ModelVersion) -> dict[str, Any]:
    data = version.to_dict()
    return {
        k: data[k]
        for k in (
            "name",
            "version",
            "description",
            "tags",
            "root_digest",
            "flavor",
            "source",
            "signatures",
        )
    }


def _file_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".") or "model"
