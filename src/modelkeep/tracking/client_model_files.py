"""Client operations that read a registered version's package: sign, verify, export, import,
model card. Each re-hashes the package against the registry's root digest first, so nothing is
signed, exported or described that is not exactly what was registered."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.entities import ModelVersion, RunStatus, VersionSignature, now_ms
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.registry import signing
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
    signature verifies with a trusted key (or, when no key is trusted anywhere, any valid one).
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
        with self._package_dir(uri):
            pass  # integrity first: never sign a package that differs from the registered one
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
        with self._package_dir(uri):
            pass
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
        ok = any(c.valid and (c.trusted or not trusted) for c in checks)
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

        The archive is extracted safely and its digests checked before anything is stored;
        the package is logged to a run of the ``Model imports`` experiment.
        """
        from modelkeep.registry.archive import import_version

        who = default_actor() if actor is None else actor
        with tempfile.TemporaryDirectory(prefix="modelkeep-import-") as tmp:
            package, meta = import_version(Path(archive), Path(tmp) / "extract")
            target = name or str(meta.get("name") or "")
            if not target:
                raise InvalidInputError("the archive names no model; pass a name", field="name")
            experiment = self.store.get_or_create_experiment(IMPORT_EXPERIMENT)
            run = self.store.create_run(experiment.id, run_name=f"import {target}")
            self.artifacts.log_dir(run.id, package, "model")
        tags = {str(k): str(v) for k, v in dict(meta.get("tags") or {}).items()}
        version = self.register_model(
            f"runs:/{run.id}/model", target, str(meta.get("description") or ""), tags, who
        )
        self.store.update_run(run.id, status=RunStatus.FINISHED, end_time=now_ms())
        for sig in meta.get("signatures") or ():
            self.store.add_model_version_signature(
                version.name,
                version.version,
                sig["public_key"],
                sig["signature"],
                str(sig.get("signed_by") or who),
            )
        return self.store.get_model_version(version.name, version.version)

    def write_model_card(self, uri: str, directory: str | Path) -> tuple[Path, Path]:
        """Write ``<name>-v<version>.md`` and ``.html`` model cards into ``directory``."""
        from modelkeep.registry.card import render_card, write_card

        version = self._registered(uri)
        model = self.store.get_registered_model(version.name)
        with self._package_dir(uri) as (_, manifest, _):
            pass
        run = None
        if version.run_id:
            try:
                run = self.store.get_run(version.run_id)
            except NotFoundError:
                run = None
        history = self.store.list_alias_history(version.name)
        card = render_card(model, version, manifest, run, history)
        stem = f"{_file_stem(version.name)}-v{version.version}"
        return write_card(card, Path(directory), stem)


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
