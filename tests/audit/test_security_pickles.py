"""The pickle scanner and the package-directory audit: hand-built malicious pickles (decoded,
never loaded), pickles inside archives and compressed files, object arrays, and requirement
pins. Every byte string here is only ever read by ``pickletools``."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from modelkeep.audit.pickle_scan import is_dangerous, scan_bytes, scan_directory
from modelkeep.audit.security import audit_package_dir, check_requirements
from modelkeep.registry.manifest import hash_package_files, write_manifest
from modelkeep.registry.package import save_package

# GLOBAL 'os system', MARK, STRING 'echo pwned', TUPLE, REDUCE, STOP (protocol 0)
OS_SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR."
# PROTO 4, 'builtins' 'eval' STACK_GLOBAL, "print('hi')" TUPLE1 REDUCE
BUILTINS_EVAL = (
    b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x0bprint('hi')\x94\x85\x94R\x94."
)
# PROTO 4, 'os' 'system' STACK_GLOBAL, then BINGET 0 ('os') 'getcwd' STACK_GLOBAL: the memo
OS_VIA_MEMO = (
    b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94h\x00\x8c\x06getcwd\x94\x93\x94)R\x94"
    b"\x85\x94R\x94."
)


def _model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    return LogisticRegression().fit(rng.normal(size=(30, 3)), np.arange(30) % 2)


def _package_with(tmp_path: Path, extra: dict[str, bytes]) -> Path:
    """A skops package with ``extra`` files added and listed in its manifest (so only the
    serialisation check can object to them)."""
    root = tmp_path / "package"
    manifest, _ = save_package(_model(), root)
    for name, data in extra.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    write_manifest(root, dataclasses.replace(manifest, files=hash_package_files(root)))
    return root


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (OS_SYSTEM, ("os system",)),
        (BUILTINS_EVAL, ("builtins eval",)),
        (OS_VIA_MEMO, ("os system", "os getcwd")),
    ],
)
def test_hand_built_pickles_name_the_globals_they_import(
    stream: bytes, expected: tuple[str, ...]
) -> None:
    (finding,) = scan_bytes(stream, "evil.pkl")

    assert finding.globals == expected
    assert finding.dangerous == expected
    assert finding.complete and finding.calls >= 1


def test_a_malicious_pickle_in_a_package_fails_the_audit_as_critical(tmp_path: Path) -> None:
    package = _package_with(tmp_path, {"extras/hook.pkl": OS_SYSTEM})

    report = audit_package_dir(package)

    assert report.check("integrity").passed  # listed in the manifest: only the scan objects
    check = report.check("serialization")
    assert (check.passed, check.severity) == (False, "critical")
    assert "'os system'" in check.detail and "extras/hook.pkl" in check.detail
    assert check.evidence["dangerous_globals"] == ["os system"]
    assert not report.passed


def test_allow_code_does_not_excuse_dangerous_globals(tmp_path: Path) -> None:
    package = _package_with(tmp_path, {"a.pkl": BUILTINS_EVAL})

    check = audit_package_dir(package, allow_code=True).check("serialization")

    assert (check.passed, check.severity) == (False, "critical")


def test_pickles_inside_zip_archives_are_found(tmp_path: Path) -> None:
    archive = _zip({"archive/data.pkl": OS_VIA_MEMO, "archive/version": b"3\n"})
    nested = _zip({"inner.zip": archive})

    findings = scan_directory(_package_with(tmp_path, {"weights.pt": nested}))

    assert [(f.file, f.globals) for f in findings] == [
        ("weights.pt!inner.zip!archive/data.pkl", ("os system", "os getcwd"))
    ]


def test_compressed_joblib_files_are_inflated_and_scanned(tmp_path: Path) -> None:
    for compress in (3, ("gzip", 3), ("bz2", 3), ("xz", 3)):
        path = tmp_path / "model.joblib"
        joblib.dump(_model(), path, compress=compress)  # written, never loaded

        (finding,) = scan_bytes(path.read_bytes(), "model.joblib")

        assert "sklearn.linear_model._logistic LogisticRegression" in finding.globals
        assert finding.dangerous == ()


def test_a_plain_pickled_model_fails_as_high_and_passes_with_allow_code(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    joblib.dump(_model(), buffer)
    package = _package_with(tmp_path, {"model.joblib": buffer.getvalue()})

    strict = audit_package_dir(package).check("serialization")
    allowed = audit_package_dir(package, allow_code=True).check("serialization")

    assert (strict.passed, strict.severity) == (False, "high")
    assert "sklearn.linear_model._logistic LogisticRegression" in strict.detail
    assert (allowed.passed, allowed.severity) == (True, "medium")


def test_object_npy_arrays_hold_pickles_and_numeric_ones_do_not() -> None:
    numeric, objects = io.BytesIO(), io.BytesIO()
    np.save(numeric, np.arange(6.0))
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)

    assert scan_bytes(numeric.getvalue(), "a.npy") == []
    (finding,) = scan_bytes(objects.getvalue(), "b.npy")
    assert "numpy ndarray" in finding.globals


def test_skops_files_and_text_are_not_taken_for_pickles() -> None:
    assert scan_bytes(skops.io.dumps(_model()), "model.skops") == []
    for text in (b'{"flavor": "sklearn"}', b"a,b\n1,2\n", b"", b"# notes\n"):
        assert scan_bytes(text, "file.txt") == []


def test_a_pickle_named_file_that_does_not_decode_is_reported(tmp_path: Path) -> None:
    package = _package_with(tmp_path, {"weights.pkl": b"\x00not a pickle"})

    check = audit_package_dir(package).check("serialization")

    assert not check.passed
    assert "weights.pkl" in check.detail and "cannot be read" in check.detail


def test_dangerous_names() -> None:
    assert is_dangerous("posix system") and is_dangerous("subprocess Popen")
    assert is_dangerous("builtins getattr") and is_dangerous("? ?")
    assert not is_dangerous("builtins set") and not is_dangerous("numpy dtype")


def test_requirement_pins() -> None:
    good = ["numpy==2.4.0", "pkg===1.0", "scipy==1.15.0; python_version >= '3.11'"]
    bad = ["pandas>=2", "scipy==1.*", "x @ https://example.com/x.whl", "sklearn", "==oops"]

    assert check_requirements(good) == []
    assert check_requirements(bad) == bad


def test_unpinned_requirements_fail_the_package_audit(tmp_path: Path) -> None:
    root = tmp_path / "package"
    save_package(_model(), root, requirements=["scikit-learn>=1.0", "numpy==2.4.0"])

    check = audit_package_dir(root).check("requirements")

    assert (check.passed, check.severity) == (False, "medium")
    assert check.evidence["unpinned"] == ["scikit-learn>=1.0"]
    assert "scikit-learn>=1.0" in check.detail
