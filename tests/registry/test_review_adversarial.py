"""Adversarial review of the model registry and packages (issue 3), on a real SQLite store.

Hostile packages, manifests, archives, names and signatures; each test states the safe outcome.
Several began as failing tests for bugs the review found (nested packages, refused imports that
left a version or a run behind, an input example path outside the package...).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from modelkeep.config import Settings
from modelkeep.exceptions import (
    ConflictError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PackageIntegrityError,
    SignatureError,
    UnsafeArchiveError,
    UnsafeModelError,
    UnsafePathError,
)
from modelkeep.registry.manifest import hash_package_files, read_manifest, write_manifest
from modelkeep.registry.package import load_package, save_package
from modelkeep.registry.signing import (
    generate_keypair,
    load_private_key,
    load_public_key,
    sign_root_digest,
)
from modelkeep.tracking import Client
from modelkeep.tracking.client_model_files import IMPORT_EXPERIMENT

# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})


@pytest.fixture(scope="module")
def tree(frame: pd.DataFrame) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=0).fit(frame, [0, 1, 0, 1, 1, 0])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    settings = Settings(home=tmp_path / "home").model_copy(update={"tracking_uri": uri})
    with Client(uri, settings=settings) as opened:
        yield opened


@pytest.fixture
def registered(client: Client, tree: DecisionTreeClassifier, frame: pd.DataFrame) -> str:
    """``churn`` version 1 (a decision tree with a signature); returns its run URI."""
    experiment = client.store.get_or_create_experiment("review")
    run = client.store.create_run(experiment.id)
    info = client.log_model(run.id, tree, input_example=frame.head(3))
    client.register_model(info.uri, "churn")
    return info.uri


def _version_count(client: Client) -> int:
    return len(client.store.search_model_versions(max_results=50_000))


def _package(directory: Path, model: Any, frame: pd.DataFrame) -> Path:
    save_package(model, directory, input_example=frame.head(2))
    return directory


def _rewrite_manifest(directory: Path, **changes: Any) -> None:
    """Change MODEL.json fields and re-hash, as someone crafting a package would."""
    manifest = dataclasses.replace(read_manifest(directory), **changes)
    manifest = dataclasses.replace(manifest, files=hash_package_files(directory))
    write_manifest(directory, manifest)


def _patch_manifest_json(directory: Path, **changes: Any) -> None:
    """Change MODEL.json as raw JSON (for values the Manifest class would not serialise)."""
    path = directory / "MODEL.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# ---- package manifests that point outside the package ------------------------------------------


def test_flavor_file_outside_the_package_is_refused(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    _package(tmp_path / "victim", tree, frame)
    crafted = _package(tmp_path / "crafted", tree, frame)
    options = dict(read_manifest(crafted).flavor_options)
    options["file"] = "../victim/model.skops"
    _rewrite_manifest(crafted, flavor_options=options)
    with pytest.raises(PackageIntegrityError) as info:
        load_package(crafted)
    assert info.value.field == "MODEL.json"


@pytest.mark.parametrize("flavor", ["../../etc/passwd", "/abs/flavor", "sklearn/../pickle"])
def test_flavor_name_that_is_a_path_is_an_unknown_flavor(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame, flavor: str
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    _rewrite_manifest(crafted, flavor=flavor)
    with pytest.raises(InvalidInputError) as info:
        load_package(crafted)
    assert info.value.field == "flavor"


def test_manifest_switched_to_pickle_flavor_needs_allow_code(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    _rewrite_manifest(crafted, flavor="pickle")
    with pytest.raises(UnsafeModelError, match="allow_code=True"):
        load_package(crafted)


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_input_example_path_outside_the_package_is_refused(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame, where: str
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(
        json.dumps(
            {
                "format": "pandas-split",
                "columns": ["password"],
                "dtypes": ["object"],
                "data": [["hunter2"]],
            }
        )
    )
    crafted = _package(tmp_path / "p", tree, frame)
    _rewrite_manifest(
        crafted, input_example="../secret.json" if where == "relative" else str(secret)
    )
    with pytest.raises(PackageIntegrityError):
        load_package(crafted).input_example  # noqa: B018 - the property reads the file


def test_non_string_input_example_in_manifest_is_an_integrity_error(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    _patch_manifest_json(crafted, input_example=["x"])
    with pytest.raises(PackageIntegrityError):
        load_package(crafted).input_example  # noqa: B018


def test_flavor_file_missing_from_the_package_is_an_integrity_error(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    data = json.loads((crafted / "MODEL.json").read_text())
    data["flavor_options"]["file"] = "elsewhere.skops"
    (crafted / "MODEL.json").write_text(json.dumps(data))
    with pytest.raises(PackageIntegrityError):
        load_package(crafted)


def test_deeply_nested_manifest_is_an_integrity_error(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    (crafted / "MODEL.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PackageIntegrityError):
        load_package(crafted)


# ---- payloads that would run code --------------------------------------------------------------


def test_object_dtype_npy_input_example_is_not_unpickled(
    tmp_path: Path, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    crafted = _package(tmp_path / "p", tree, frame)
    (crafted / "input_example.json").unlink()
    np.save(crafted / "input_example.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _rewrite_manifest(crafted, input_example="input_example.npy")
    with pytest.raises(InvalidInputError) as info:
        load_package(crafted).input_example  # noqa: B018
    assert info.value.field == "input_example"


def test_skops_file_with_a_dangerous_function_is_refused_without_allow_code(
    tmp_path: Path,
) -> None:
    package = tmp_path / "p"
    save_package(FunctionTransformer(func=os.system), package, flavor="sklearn")
    with pytest.raises(UnsafeModelError, match="posix.system"):
        load_package(package)


def test_skops_file_whose_manifest_hides_a_dangerous_type_is_refused_even_with_allow_code(
    tmp_path: Path,
) -> None:
    package = tmp_path / "p"
    save_package(FunctionTransformer(func=os.system), package, flavor="sklearn")
    options = dict(read_manifest(package).flavor_options)
    options["trusted_types"] = []
    _rewrite_manifest(package, flavor_options=options)
    for allow_code in (False, True):
        with pytest.raises(PackageIntegrityError) as info:
            load_package(package, allow_code=allow_code)
        assert info.value.field == "model.skops"


# ---- log_model names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "/abs", "a/../../b", "a\\..\\b", "%2e%2e/x", ".", "a\x00b"]
)
def test_log_model_name_that_escapes_is_refused_and_stores_nothing(
    client: Client, tree: DecisionTreeClassifier, name: str
) -> None:
    run = client.store.create_run(client.store.get_or_create_experiment("review").id)
    with pytest.raises(UnsafePathError) as info:
        client.log_model(run.id, tree, name=name)
    assert info.value.field == "path"
    assert client.artifacts.list(run.id) == []


def test_log_model_with_an_empty_name_is_refused(
    client: Client, tree: DecisionTreeClassifier
) -> None:
    run = client.store.create_run(client.store.get_or_create_experiment("review").id)
    with pytest.raises(InvalidInputError) as info:
        client.log_model(run.id, tree, name="")
    assert info.value.field == "name"
    assert client.artifacts.list(run.id) == []


def test_log_model_inside_a_registered_package_does_not_break_it(
    client: Client, tree: DecisionTreeClassifier, frame: pd.DataFrame
) -> None:
    run = client.store.create_run(client.store.get_or_create_experiment("review").id)
    info = client.log_model(run.id, tree, name="pkg")
    version = client.register_model(info.uri, "victim")
    with pytest.raises(ConflictError):
        client.log_model(run.id, tree, name="pkg/sub")
    loaded = client.load_model(f"models:/victim/{version.version}")
    assert np.array_equal(loaded.predict(frame), tree.predict(frame))


# ---- signatures --------------------------------------------------------------------------------


def _b64(size: int, byte: bytes = b"\x01") -> str:
    return base64.b64encode(byte * size).decode("ascii")


@pytest.mark.parametrize(
    ("public_key", "signature", "field"),
    [
        (_b64(31), _b64(64), "public_key"),
        (_b64(33), _b64(64), "public_key"),
        ("not base64!", _b64(64), "public_key"),
        (_b64(32), _b64(63), "signature"),
        (_b64(32), _b64(65), "signature"),
        (_b64(32), "***", "signature"),
    ],
)
def test_signature_with_wrong_sizes_is_refused_and_stores_nothing(
    client: Client, registered: str, public_key: str, signature: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        client.store.add_model_version_signature("churn", 1, public_key, signature, "x")
    assert info.value.field == field
    assert client.get_model_version("churn", 1).signatures == ()


def test_signature_of_another_digest_is_refused(
    client: Client, registered: str, tmp_path: Path
) -> None:
    private, _ = generate_keypair(tmp_path / "k")
    public_key, signature = sign_root_digest(load_private_key(private), "ab" * 32)
    with pytest.raises(SignatureError):
        client.store.add_model_version_signature("churn", 1, public_key, signature, "x")
    assert client.get_model_version("churn", 1).signatures == ()


def test_require_signatures_toggling(client: Client, registered: str, tmp_path: Path) -> None:
    trusted_priv, trusted_pub = generate_keypair(tmp_path / "trusted")
    other_priv, _ = generate_keypair(tmp_path / "other")
    trusted_key = load_public_key(trusted_pub)
    client.register_model(registered, "churn")  # version 2
    with pytest.raises(InvalidInputError) as info:
        client.store.update_registered_model("churn", require_signatures=True)
    assert info.value.field == "trusted_keys"
    client.store.update_registered_model(
        "churn", require_signatures=True, trusted_keys=[trusted_key]
    )

    with pytest.raises(SignatureError):
        client.set_alias("churn", "champion", 1)
    client.sign_model_version("models:/churn/1", load_private_key(other_priv))
    with pytest.raises(SignatureError):
        client.set_alias("churn", "champion", 1)
    assert client.store.list_alias_history("churn") == []

    client.sign_model_version("models:/churn/1", load_private_key(trusted_priv))
    assert client.set_alias("churn", "champion", 1).version == 1
    client.store.update_registered_model("churn", require_signatures=False)
    assert client.set_alias("churn", "champion", 2).previous_version == 1


def test_no_alias_resolves_to_an_unsigned_version_once_signatures_are_required(
    client: Client, registered: str, tmp_path: Path
) -> None:
    _, trusted_pub = generate_keypair(tmp_path / "trusted")
    client.set_alias("churn", "champion", 1)
    try:
        client.store.update_registered_model(
            "churn", require_signatures=True, trusted_keys=[load_public_key(trusted_pub)]
        )
    except (ConflictError, InvalidInputError):
        pass  # refusing to turn it on while an alias points at an unsigned version is fine
    model = client.get_registered_model("churn")
    if model.require_signatures:
        with pytest.raises((NotFoundError, SignatureError)):
            client.store.get_model_version_by_alias("churn", "champion")


def test_verify_without_any_trusted_key_is_not_ok(
    client: Client, registered: str, tmp_path: Path
) -> None:
    private, _ = generate_keypair(tmp_path / "mallory")
    client.sign_model_version("models:/churn/1", load_private_key(private))
    assert not client.verify_model_version("models:/churn/1").ok


# ---- deletes and alias concurrency -------------------------------------------------------------


def test_aliased_version_is_not_deleted_without_force(client: Client, registered: str) -> None:
    client.set_alias("churn", "champion", 1)
    with pytest.raises(ConflictError) as info:
        client.store.delete_model_version("churn", 1)
    assert info.value.field == "version"
    with pytest.raises(ConflictError):
        client.store.delete_registered_model("churn")
    assert client.store.get_model_version_by_alias("churn", "champion").version == 1
    client.store.delete_model_version("churn", 1, force=True, actor="admin")
    last = client.store.list_alias_history("churn")[-1]
    assert (last.version, last.previous_version, last.actor) == (None, 1, "admin")


def test_concurrent_alias_moves_keep_an_unbroken_history(client: Client, registered: str) -> None:
    for _ in range(3):
        client.register_model(registered, "churn")
    errors: list[BaseException] = []

    def move(worker: int) -> None:
        for step in range(5):
            try:
                client.set_alias("churn", "champion", (worker + step) % 4 + 1, reason=str(step))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=move, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = client.store.list_alias_history("churn", "champion")
    assert len(history) == 20
    assert all(b.previous_version == a.version for a, b in zip(history, history[1:], strict=False))
    final = client.store.get_model_version_by_alias("churn", "champion").version
    assert final == history[-1].version


# ---- archives ----------------------------------------------------------------------------------


@pytest.fixture
def exported(client: Client, registered: str, tmp_path: Path) -> Path:
    _, _ = generate_keypair(tmp_path / "signer")
    client.sign_model_version("models:/churn/1", load_private_key(tmp_path / "signer.key"))
    return client.export_model_version("models:/churn/1", tmp_path / "churn.tar.gz")


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive, "r:gz") as tar:
        return [
            (m, tar.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


def _rebuild(
    archive: Path,
    target: Path,
    *,
    meta: Callable[[dict[str, Any]], None] | None = None,
    extra: list[tuple[tarfile.TarInfo, bytes | None]] | None = None,
) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for member, data in _members(archive):
            if member.name == "VERSION.json" and meta is not None and data is not None:
                parsed = json.loads(data)
                meta(parsed)
                data = json.dumps(parsed).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        for member, data in extra or []:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    target.write_bytes(buffer.getvalue())
    return target


def _entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = "") -> Any:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


_HOSTILE_ENTRIES = {
    "absolute": [(_entry("/tmp/mk-review-pwned", size=1), b"x")],
    "dotdot": [(_entry("model/../../mk-review-pwned", size=1), b"x")],
    "symlink": [(_entry("model/link", tarfile.SYMTYPE, link="/etc/passwd"), None)],
    "hardlink": [(_entry("model/hard", tarfile.LNKTYPE, link="model/MODEL.json"), None)],
    "device": [(_entry("model/dev", tarfile.CHRTYPE), None)],
    "fifo": [(_entry("model/fifo", tarfile.FIFOTYPE), None)],
    "outside": [(_entry("elsewhere.txt", size=1), b"x")],
    "duplicate": [(_entry("VERSION.json", size=2), b"{}")],
}


@pytest.mark.parametrize("kind", sorted(_HOSTILE_ENTRIES))
def test_hostile_archive_entries_are_refused_and_change_nothing(
    client: Client, exported: Path, tmp_path: Path, kind: str
) -> None:
    crafted = _rebuild(exported, tmp_path / f"{kind}.tar.gz", extra=_HOSTILE_ENTRIES[kind])
    before = _version_count(client)
    with pytest.raises(UnsafeArchiveError):
        client.import_model_version(crafted, "imported")
    assert _version_count(client) == before
    assert not Path("/tmp/mk-review-pwned").exists()


def test_archive_with_a_huge_size_claim_is_refused(
    client: Client, exported: Path, tmp_path: Path
) -> None:
    crafted = _rebuild(
        exported, tmp_path / "huge.tar.gz", extra=[(_entry("model/huge", size=0), b"")]
    )
    import gzip

    raw = bytearray(gzip.decompress(crafted.read_bytes()))
    header = _entry("model/huge2", size=1 << 40).tobuf(tarfile.GNU_FORMAT)
    end = len(raw.rstrip(b"\0"))
    end += (-end) % 512
    crafted.write_bytes(gzip.compress(bytes(raw[:end]) + header + b"\0" * 1024))
    with pytest.raises(UnsafeArchiveError, match="byte limit"):
        client.import_model_version(crafted, "imported")
    assert _version_count(client) == 1


def test_archive_with_too_many_members_is_refused(
    client: Client, exported: Path, tmp_path: Path
) -> None:
    many = [(_entry(f"model/d/{i}"), b"") for i in range(10_010)]
    crafted = _rebuild(exported, tmp_path / "many.tar.gz", extra=many)
    with pytest.raises(UnsafeArchiveError, match="limit of 10000 entries"):
        client.import_model_version(crafted, "imported")
    assert _version_count(client) == 1


def _import_runs(client: Client) -> int:
    experiment = client.store.get_experiment_by_name(IMPORT_EXPERIMENT)
    if experiment is None:
        return 0
    return len(client.store.search_runs([experiment.id], max_results=1000))


def test_import_with_a_forged_signature_changes_nothing(
    client: Client, exported: Path, tmp_path: Path
) -> None:
    def forge(meta: dict[str, Any]) -> None:
        meta["signatures"][0]["signature"] = _b64(64, b"\x00")

    crafted = _rebuild(exported, tmp_path / "forged.tar.gz", meta=forge)
    with pytest.raises(SignatureError):
        client.import_model_version(crafted, "forged")
    with pytest.raises(NotFoundError):
        client.get_registered_model("forged")


@pytest.mark.parametrize(
    "damage",
    [
        {"signatures": [{"signature": "x"}]},
        {"signatures": "abc"},
        {"tags": [1, 2]},
    ],
)
def test_import_with_malformed_metadata_is_a_clear_error_and_changes_nothing(
    client: Client, exported: Path, tmp_path: Path, damage: dict[str, Any]
) -> None:
    crafted = _rebuild(exported, tmp_path / "bad.tar.gz", meta=lambda meta: meta.update(damage))
    before = _version_count(client)
    with pytest.raises(ModelkeepError):
        client.import_model_version(crafted, "damaged")
    assert _version_count(client) == before


def test_refused_import_leaves_no_run_behind(client: Client, exported: Path) -> None:
    before = _import_runs(client)
    with pytest.raises(InvalidInputError):
        client.import_model_version(exported, "bad@name")
    assert _import_runs(client) == before
