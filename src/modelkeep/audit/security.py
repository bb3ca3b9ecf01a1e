"""``security_audit``: is a model package what was registered, signed, free of code-running
serialisation, and reproducible?

Four checks, each ``{name, passed, severity, detail}`` plus its evidence:

``integrity``
    Every file re-hashed against ``MODEL.json``, and the package's root digest against the one
    the registry holds for a ``models:/`` version: the re-hash
    :meth:`~modelkeep.tracking.Client.verify_model_version` runs, done on the audited copy.
    A changed, missing or extra file fails (``critical``), naming the file.
``signature``
    For a registered version: its stored signatures, whether each verifies against the
    registered root digest and whether its key is one the registered model trusts. Fails when
    a signature does not verify (a forgery or a changed registry record), or when the model
    requires signatures (``modelkeep models update NAME --require-signatures``) and none by a
    trusted key verifies. Unsigned versions of a model that does not require signatures pass
    with severity ``low``; a ``runs:/`` package has nothing to sign and passes as ``info``.
``serialization``
    Every file scanned for pickle streams (:mod:`modelkeep.audit.pickle_scan`): plain files,
    archive members (skops and PyTorch files are zips), compressed joblib files, object
    ``.npy`` arrays. Any stream that imports a global fails and the globals are listed;
    ``critical`` when one runs commands or code (``os system``, ``builtins eval``...), else
    ``high``. With ``allow_code=True`` (you accept pickle-based flavors) only the dangerous
    globals fail.
``requirements``
    Each of the manifest's pip requirements must pin one version with ``==`` or ``===``
    (no ranges, wildcards or URLs); none recorded fails too (``medium``).

The report is stored as ``audit/security.json`` on the version's source run.

Example:
    >>> report = security_audit("models:/churn@champion")  # doctest: +SKIP
    >>> report.passed, [c.name for c in report.checks if not c.passed]  # doctest: +SKIP
    (False, ['serialization'])
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.audit.pickle_scan import BROKE_OFF, PickleFinding, scan_directory
from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, ModelkeepError, PackageIntegrityError
from modelkeep.registry import signing
from modelkeep.registry.manifest import MANIFEST_FILE, read_manifest, verify_package

if TYPE_CHECKING:
    from modelkeep.entities import ModelVersion
    from modelkeep.tracking import Client

__all__ = [
    "SECURITY_ARTIFACT",
    "SecurityCheck",
    "SecurityReport",
    "audit_package_dir",
    "check_requirements",
    "security_audit",
]

SECURITY_ARTIFACT = "audit/security.json"
SEVERITIES = ("info", "low", "medium", "high", "critical")
_SHOWN_GLOBALS = 12


@dataclass(frozen=True)
class SecurityCheck:
    """One check's outcome.

    Attributes:
        name: ``integrity``, ``signature``, ``serialization`` or ``requirements``.
        passed: whether the package passed it.
        severity: one of ``info``, ``low``, ``medium``, ``high``, ``critical``: how much a
            failure (or, for a pass, the remaining caveat) matters.
        detail: one line for people.
        evidence: JSON-ready facts behind the verdict (files, globals, requirements...).
    """

    name: str
    passed: bool
    severity: str
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "detail": self.detail,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class SecurityReport:
    """The checks of one package; ``passed`` when every check passed."""

    model_uri: str
    root_digest: str | None
    checks: list[SecurityCheck]
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    run_id: str | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> SecurityCheck:
        """The check called ``name`` (InvalidInputError when there is none)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise InvalidInputError(f"no check named {name!r}", field="name")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_uri": self.model_uri,
            "run_id": self.run_id,
            "root_digest": self.root_digest,
            "passed": self.passed,
            "created_ms": self.created_ms,
            "checks": [check.to_dict() for check in self.checks],
        }


def security_audit(
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    settings: Settings | None = None,
    allow_code: bool = False,
    record: bool = True,
) -> SecurityReport:
    """Audit the package behind ``model_uri`` (see the module docstring) and store the
    report as ``audit/security.json`` on its source run.

    Nothing in the package is loaded or deserialised.

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/3`` or ``runs:/<id>/<path>``.
        tracking_uri: the store (default: the settings').
        settings: where the artifacts live.
        allow_code: accept pickles that import only globals that do not run commands or code
            (pickle and python-function flavors); dangerous globals fail regardless.
        record: store the report on the run (``audit/security.json``).

    Raises:
        NotFoundError: unknown model, version, run or package.
    """
    from modelkeep.tracking import Client

    settings = settings or Settings()
    with Client(tracking_uri or settings.resolved_tracking_uri(), settings=settings) as client:
        resolved = client.resolve_model_uri(model_uri)
        version = resolved.version
        with tempfile.TemporaryDirectory(prefix="modelkeep-audit-") as tmp:
            package = _download_raw(client, resolved.run_id, resolved.path, Path(tmp))
            report = audit_package_dir(
                package,
                expected_root_digest=version.root_digest if version else None,
                allow_code=allow_code,
                model_uri=model_uri,
                signature=_signature_check(client, version),
            )
        report = SecurityReport(
            model_uri, report.root_digest, report.checks, report.created_ms, resolved.run_id
        )
        if record:
            data = json.dumps(report.to_dict(), indent=2, sort_keys=True).encode("utf-8")
            client.artifacts.log_bytes(resolved.run_id, data, SECURITY_ARTIFACT)
    return report


def audit_package_dir(
    directory: Path,
    *,
    expected_root_digest: str | None = None,
    allow_code: bool = False,
    model_uri: str = "",
    signature: SecurityCheck | None = None,
) -> SecurityReport:
    """Audit a package directory on disk (no registry: the signature check is left out
    unless given).

    Args:
        directory: the package (``MODEL.json`` and its files).
        expected_root_digest: the registry's root digest, when there is one.
        allow_code: see :func:`security_audit`.
        model_uri: recorded on the report.
        signature: a signature check made elsewhere, placed second among the checks.
    """
    directory = Path(directory)
    integrity, digest = _integrity_check(directory, expected_root_digest)
    checks = [integrity]
    if signature is not None:
        checks.append(signature)
    checks.append(_serialization_check(scan_directory(directory), allow_code))
    checks.append(_requirements_check(directory))
    return SecurityReport(model_uri or str(directory), digest, checks)


def _download_raw(client: Client, run_id: str, path: str, tmp: Path) -> Path:
    """The package's files as stored, not verified: the audit reports what it finds."""
    downloaded = client.artifacts.download(run_id, path, tmp / "download")
    package = tmp / "package"
    shutil.move(downloaded, package)
    return package


def _integrity_check(directory: Path, expected: str | None) -> tuple[SecurityCheck, str | None]:
    against = "its MODEL.json and the registered root digest" if expected else "its MODEL.json"
    try:
        manifest, digest = verify_package(directory, expected)
    except PackageIntegrityError as exc:
        failed = {"file": exc.field, "expected_root_digest": expected}
        return SecurityCheck("integrity", False, "critical", exc.message, failed), None
    detail = f"all {len(manifest.files) + 1} files match {against}"
    evidence: dict[str, Any] = {
        "files": len(manifest.files) + 1,
        "root_digest": digest,
        "registered": expected,
    }
    return SecurityCheck("integrity", True, "info", detail, evidence), digest


def _signature_check(client: Client, version: ModelVersion | None) -> SecurityCheck:
    if version is None:
        detail = "not a registered version: there is no signature to check"
        return SecurityCheck("signature", True, "info", detail, {"registered": False})
    model = client.get_registered_model(version.name)
    trusted_keys = set(model.trusted_keys)
    signatures = []
    for sig in version.signatures:
        try:
            valid = signing.verify_signature(sig.public_key, sig.signature, version.root_digest)
        except ModelkeepError:
            valid = False  # a malformed stored key or signature verifies nothing
        signatures.append(
            {
                "key_id": sig.key_id,
                "signed_by": sig.signed_by,
                "valid": valid,
                "trusted": sig.public_key in trusted_keys,
            }
        )
    return _signature_verdict(signatures, model.require_signatures)


def _signature_verdict(signatures: list[dict[str, Any]], required: bool) -> SecurityCheck:
    evidence = {"registered": True, "required": required, "signatures": signatures}
    invalid = [s["key_id"] for s in signatures if not s["valid"]]
    trusted = [s["key_id"] for s in signatures if s["valid"] and s["trusted"]]
    if invalid:
        detail = f"signature(s) by key {', '.join(invalid)} do not verify the registered digest"
        return SecurityCheck("signature", False, "high", detail, evidence)
    if trusted:
        detail = f"signed by trusted key {', '.join(trusted)}"
        return SecurityCheck("signature", True, "info", detail, evidence)
    what = "no signature" if not signatures else "no signature by a trusted key"
    if required:
        detail = f"{what}, and the registered model requires one"
        return SecurityCheck("signature", False, "high", detail, evidence)
    detail = f"{what}; the registered model does not require one"
    return SecurityCheck("signature", True, "low", detail, evidence)


def _serialization_check(findings: Sequence[PickleFinding], allow_code: bool) -> SecurityCheck:
    importing = [f for f in findings if f.globals or f.error]
    dangerous = sorted({name for f in findings for name in f.dangerous})
    evidence = {
        "pickle_streams": [f.to_dict() for f in findings],
        "dangerous_globals": dangerous,
        "allow_code": allow_code,
    }
    if not findings:
        detail = "no pickle stream in any file"
        return SecurityCheck("serialization", True, "info", detail, evidence)
    if dangerous:
        files = sorted({f.file for f in findings if f.dangerous})
        detail = (
            f"pickle in {', '.join(files)} imports globals that run commands or code: "
            f"{_listed(dangerous)}"
        )
        return SecurityCheck("serialization", False, "critical", detail, evidence)
    if not importing:
        detail = f"{len(findings)} pickle stream(s) that import no global"
        return SecurityCheck("serialization", True, "low", detail, evidence)
    names = sorted({name for f in importing for name in f.globals})
    files = sorted({f.file for f in importing})
    unreadable = [
        f"{f.file} ({f.error})" for f in importing if f.error and not f.error.startswith(BROKE_OFF)
    ]
    what = f"imports {_listed(names)}" if names else f"cannot be read: {', '.join(unreadable)}"
    detail = f"pickle in {', '.join(files)} {what}"
    if allow_code and not unreadable:
        return SecurityCheck("serialization", True, "medium", f"{detail} (allowed)", evidence)
    return SecurityCheck("serialization", False, "high", detail, evidence)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:_SHOWN_GLOBALS])
    more = len(names) - _SHOWN_GLOBALS
    return f"{shown} and {more} more" if more > 0 else shown


def _requirements_check(directory: Path) -> SecurityCheck:
    try:
        manifest = read_manifest(directory)
    except PackageIntegrityError as exc:
        detail = f"no readable {MANIFEST_FILE}: {exc.message}"
        return SecurityCheck("requirements", False, "medium", detail, {})
    unpinned = check_requirements(manifest.requirements)
    evidence = {"requirements": list(manifest.requirements), "unpinned": unpinned}
    if not manifest.requirements:
        detail = "no requirements recorded: the environment cannot be recreated"
        return SecurityCheck("requirements", False, "medium", detail, evidence)
    if unpinned:
        detail = f"not pinned with == or ===: {', '.join(unpinned)}"
        return SecurityCheck("requirements", False, "medium", detail, evidence)
    detail = f"all {len(manifest.requirements)} requirements pin one version"
    return SecurityCheck("requirements", True, "info", detail, evidence)


def check_requirements(requirements: Sequence[str]) -> list[str]:
    """The requirements that do not pin exactly one version with ``==`` or ``===``.

    >>> check_requirements(["numpy==2.4.0", "pandas>=2", "scipy==1.*", "x @ https://h/x.whl"])
    ['pandas>=2', 'scipy==1.*', 'x @ https://h/x.whl']
    """
    from packaging.requirements import InvalidRequirement, Requirement

    unpinned = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            unpinned.append(line)
            continue
        specs = list(requirement.specifier)
        pinned = (
            requirement.url is None
            and len(specs) == 1
            and specs[0].operator in ("==", "===")
            and "*" not in specs[0].version
        )
        if not pinned:
            unpinned.append(line)
    return unpinned
