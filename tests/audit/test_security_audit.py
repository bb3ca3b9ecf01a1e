"""``security_audit(model_uri)`` on registered versions: a clean skops package passes, a
tampered one fails integrity, a pickle-flavored one is flagged naming its globals, unpinned
requirements are flagged, signatures are checked against the model's trusted keys, and the
report is stored as ``audit/security.json`` on the version's run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelkeep.audit.security import SECURITY_ARTIFACT, security_audit
from modelkeep.config import Settings
from modelkeep.exceptions import NotFoundError
from modelkeep.registry.signing import generate_keypair, load_private_key, load_public_key
from modelkeep.tracking import Client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    return Settings(home=home).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'mk.db'}"}
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = Client(settings.resolved_tracking_uri(), settings=settings)
    yield opened
    opened.close()


def _register(client: Client, name: str, **log_options: Any) -> str:
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.normal(size=(40, 3)), np.arange(40) % 2)
    run = client.create_run(client.get_or_create_experiment("security").id)
    info = client.log_model(run.id, model, "model", **log_options)
    client.set_terminated(run.id)
    return f"models:/{name}/{client.register_model(info.uri, name).version}"


def _tamper(client: Client, uri: str, suffix: str) -> None:
    """Flip one byte of the stored blob of the package file ending in ``suffix``."""
    resolved = client.resolve_model_uri(uri)
    record = next(r for r in client.artifacts.list(resolved.run_id) if r.path.endswith(suffix))
    root = client.settings.resolved_artifact_root()
    (blob,) = [p for p in root.rglob(record.digest[2:]) if p.parent.name == record.digest[:2]]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))


def test_a_clean_skops_package_passes_and_the_report_is_stored(
    client: Client, settings: Settings
) -> None:
    uri = _register(client, "clean")

    report = security_audit(uri, settings=settings)

    assert report.passed
    assert [c.name for c in report.checks] == [
        "integrity",
        "signature",
        "serialization",
        "requirements",
    ]
    assert report.check("serialization").detail == "no pickle stream in any file"
    assert report.check("signature").severity == "low"  # unsigned, not required
    run_id = client.resolve_model_uri(uri).run_id
    stored = json.loads(client.artifacts.read_bytes(run_id, SECURITY_ARTIFACT))
    assert stored == report.to_dict()
    assert stored["passed"] is True and stored["root_digest"] == report.root_digest


def test_a_tampered_package_fails_integrity_naming_the_file(
    client: Client, settings: Settings
) -> None:
    uri = _register(client, "tampered")
    _tamper(client, uri, "model.skops")

    report = security_audit(uri, settings=settings)

    integrity = report.check("integrity")
    assert (integrity.passed, integrity.severity) == (False, "critical")
    assert "model.skops" in integrity.detail
    assert integrity.evidence["file"] == "model.skops"
    assert not report.passed
    assert report.root_digest is None


def test_a_pickle_flavored_package_is_flagged_with_its_globals(
    client: Client, settings: Settings
) -> None:
    uri = _register(client, "pickled", flavor="pickle")

    strict = security_audit(uri, settings=settings)
    allowed = security_audit(uri, settings=settings, allow_code=True, record=False)

    check = strict.check("serialization")
    assert (check.passed, check.severity) == (False, "high")
    assert "model.pkl" in check.detail
    assert "'sklearn.linear_model._logistic LogisticRegression'" in check.detail
    assert strict.check("integrity").passed
    assert allowed.check("serialization").passed
    assert allowed.passed


def test_unpinned_requirements_are_flagged(client: Client, settings: Settings) -> None:
    uri = _register(client, "loose", requirements=["scikit-learn>=1.4", "numpy==2.4.0"])

    check = security_audit(uri, settings=settings).check("requirements")

    assert (check.passed, check.severity) == (False, "medium")
    assert check.evidence["unpinned"] == ["scikit-learn>=1.4"]


def test_required_signatures_fail_until_a_trusted_key_signs(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    uri = _register(client, "signed")
    private, public = generate_keypair(tmp_path / "release")
    client.store.update_registered_model(
        "signed", require_signatures=True, trusted_keys=[load_public_key(public)]
    )

    unsigned = security_audit(uri, settings=settings).check("signature")
    client.sign_model_version(uri, load_private_key(private))
    signed = security_audit(uri, settings=settings).check("signature")

    assert (unsigned.passed, unsigned.severity) == (False, "high")
    assert "requires one" in unsigned.detail
    assert (signed.passed, signed.severity) == (True, "info")
    assert signed.evidence["signatures"][0]["valid"] is True
    assert signed.evidence["signatures"][0]["trusted"] is True


def test_a_signature_by_an_untrusted_key_is_not_enough_when_required(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    uri = _register(client, "stranger")
    private, _ = generate_keypair(tmp_path / "stranger")
    _, trusted = generate_keypair(tmp_path / "release")
    client.sign_model_version(uri, load_private_key(private))
    client.store.update_registered_model(
        "stranger", require_signatures=True, trusted_keys=[load_public_key(trusted)]
    )

    check = security_audit(uri, settings=settings).check("signature")

    assert not check.passed
    assert "no signature by a trusted key" in check.detail
    assert [(s["valid"], s["trusted"]) for s in check.evidence["signatures"]] == [(True, False)]


def test_a_runs_uri_has_no_signature_to_check(client: Client, settings: Settings) -> None:
    uri = _register(client, "plain")
    run_uri = f"runs:/{client.resolve_model_uri(uri).run_id}/model"

    report = security_audit(run_uri, settings=settings)

    assert report.passed
    signature = report.check("signature")
    assert signature.severity == "info" and signature.evidence == {"registered": False}


def test_an_unknown_model_is_not_found(settings: Settings) -> None:
    with pytest.raises(NotFoundError):
        security_audit("models:/nothing/1", settings=settings)
