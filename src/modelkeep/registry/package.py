"""Model packages: save a model into a directory with its manifest, and load it back safely.

Layout of a package::

    MODEL.json            manifest (modelkeep.registry.manifest): flavor, versions, signature,
                          lineage, metrics, sha256 of every other file
    model.skops           the flavor's files (model.skops, model.txt, model.ubj, model.onnx,
                          python_model.pkl + artifacts/...), named as the flavor chooses
    input_example.json    (or .npy) when an input example was given

:func:`load_package` re-hashes every file against ``MODEL.json`` (and the registry's root digest
when given) *before* the flavor reads a byte, so a changed file refuses to load with an error
that names it; then the flavor loads, refusing code-running formats unless ``allow_code=True``.

Example:
    >>> manifest, root = save_package(model, Path("pkg"), input_example=X.head())
    ... # doctest: +SKIP
    >>> load_package(Path("pkg"), expected_root_digest=root).predict(X)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import platform
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.flavors import detect_flavor, get_flavor
from modelkeep.registry.flavors.base import Flavor, SavedFlavor, distribution_version
from modelkeep.registry.loaded import LoadedModel
from modelkeep.registry.manifest import (
    Manifest,
    hash_package_files,
    verify_package,
    write_manifest,
)
from modelkeep.registry.signature import ModelSignature, infer_signature, save_input_example

__all__ = ["audit_package", "load_package", "save_package"]

# Recorded for diagnosis but never pinned as requirements: "python" is not a pip package, and
# modelkeep itself is what loads the package.
_NOT_REQUIREMENTS = frozenset({"python", "modelkeep"})


def save_package(
    model: Any,
    directory: Path,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: ModelSignature | Mapping[str, Any] | None = None,
    requirements: Sequence[str] | None = None,
    source_run_id: str | None = None,
    datasets: Sequence[Mapping[str, Any]] = (),
    metrics: Mapping[str, float] | None = None,
) -> tuple[Manifest, str]:
    """Save ``model`` as a package in ``directory`` (created, or existing and empty).

    Args:
        model: the model; its flavor is detected unless ``flavor`` names one.
        directory: where the package goes.
        flavor: a flavor name (see ``available_flavors()``) to use instead of detection.
        input_example: a few input rows, stored in the package; with no ``signature``, the
            signature is inferred from it and the model's prediction on it.
        signature: the signature, as a ModelSignature or its ``to_dict()``.
        requirements: pip requirements; default: the flavor's libraries pinned
            (``scikit-learn==1.9.1``...).
        source_run_id: the run the model came from.
        datasets: lineage, ``{"name", "digest", "context"}`` per dataset.
        metrics: metric values to snapshot (non-finite ones are dropped).

    Returns:
        The manifest written and the package's root digest.

    Raises:
        InvalidInputError: unknown flavor or one that cannot save this model, a non-empty
            ``directory``, a bad signature, or a model that fails on its input example.
    """
    directory = Path(directory)
    chosen = _choose_flavor(model, flavor)
    created = _prepare_directory(directory)
    try:
        saved = chosen.save(model, directory)
        resolved = _resolve_signature(chosen, saved, directory, input_example, signature)
        example_file = None
        if input_example is not None:
            example_file = save_input_example(input_example, directory)
        versions = _library_versions(saved)
        manifest = Manifest(
            flavor=chosen.name,
            files=hash_package_files(directory),
            flavor_options=saved.options,
            library_versions=versions,
            python_version=platform.python_version(),
            signature=None if resolved is None else resolved.to_dict(),
            input_example=example_file,
            requirements=_requirements(requirements, versions, saved),
            source_run_id=source_run_id,
            datasets=tuple(dict(dataset) for dataset in datasets),
            metrics={k: float(v) for k, v in (metrics or {}).items() if math.isfinite(v)},
            created_time=int(time.time() * 1000),
        )
        return manifest, write_manifest(directory, manifest)
    except BaseException:
        _clean(directory, created)
        raise


def load_package(
    directory: Path,
    *,
    allow_code: bool = False,
    expected_root_digest: str | None = None,
    uri: str = "",
    version: ModelVersion | None = None,
) -> LoadedModel:
    """Verify the package in ``directory``, then load its model.

    Args:
        directory: the package directory.
        allow_code: trust formats that run code (pickle, python functions) and skops types
            off modelkeep's allowlist.
        expected_root_digest: the registry's root digest; defaults to ``version.root_digest``.
        uri: recorded on the result (where the package came from).
        version: the registered version, recorded on the result.

    Raises:
        PackageIntegrityError: a file changed, is missing, unlisted or a link, or the root
            digest is not the expected one; the message names the file.
        UnsafeModelError: loading would run code and ``allow_code`` is False.
        InvalidInputError: the package's flavor is unknown here.
    """
    directory = Path(directory)
    if expected_root_digest is None and version is not None and version.root_digest:
        expected_root_digest = version.root_digest
    manifest, digest = verify_package(directory, expected_root_digest)
    flavor = get_flavor(manifest.flavor)
    model = flavor.load(directory, manifest.flavor_options, allow_code=allow_code)
    return LoadedModel(model, manifest, digest, directory, uri=uri, version=version)


def audit_package(
    directory: Path, expected_root_digest: str | None = None
) -> tuple[Manifest, str]:
    """Verify the package's digests and let its flavor check its files without loading them.

    Registration runs this: a package whose files are not what its flavor writes (a pickle
    passed off as a skops file, say) is refused before it becomes a version.

    Raises:
        PackageIntegrityError: a digest differs, or the flavor's files are not what it wrote.
        InvalidInputError: the package's flavor is unknown here.
    """
    manifest, digest = verify_package(Path(directory), expected_root_digest)
    get_flavor(manifest.flavor).audit(Path(directory), manifest.flavor_options)
    return manifest, digest


def _choose_flavor(model: Any, name: str | None) -> Flavor:
    if name is None:
        return detect_flavor(model)
    chosen = get_flavor(name)
    if not chosen.handles(model):
        raise InvalidInputError(
            f"the {name!r} flavor cannot save a {type(model).__qualname__}; leave flavor unset "
            "to detect it",
            field="flavor",
        )
    return chosen


def _prepare_directory(directory: Path) -> bool:
    """Create ``directory`` or check it is empty; True when it was created here."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise InvalidInputError(f"{directory} is not a directory", field="directory")
    if directory.exists():
        if any(directory.iterdir()):
            raise InvalidInputError(
                f"{directory} is not empty; a package is written into an empty directory",
                field="directory",
            )
        return False
    directory.mkdir(parents=True)
    return True


def _clean(directory: Path, created: bool) -> None:
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _resolve_signature(
    flavor: Flavor,
    saved: SavedFlavor,
    directory: Path,
    input_example: Any,
    signature: ModelSignature | Mapping[str, Any] | None,
) -> ModelSignature | None:
    if isinstance(signature, ModelSignature):
        return signature
    if signature is not None:
        return ModelSignature.from_dict(signature)
    if input_example is None:
        return None
    inputs_only = infer_signature(input_example)
    # Predict with the model as it will be loaded, on the example as it will be validated:
    # the output schema then describes exactly what load_package(...).predict returns.
    loaded = flavor.load(directory, saved.options, allow_code=True)
    try:
        output = loaded.predict(inputs_only.validate_input(input_example))
    except Exception as exc:
        raise InvalidInputError(
            f"the model failed to predict on its input example "
            f"({type(exc).__name__}: {exc}); pass an example it accepts, or a signature",
            field="input_example",
        ) from exc
    try:
        return infer_signature(input_example, output)
    except InvalidInputError:
        # An output no table can describe (nested objects...) leaves the outputs unspecified.
        return inputs_only


def _library_versions(saved: SavedFlavor) -> dict[str, str]:
    versions = dict(saved.library_versions)
    for name in ("numpy", "modelkeep"):
        version = distribution_version(name)
        if version is not None:
            versions.setdefault(name, version)
    versions["python"] = platform.python_version()
    return versions


def _requirements(
    given: Sequence[str] | None, versions: Mapping[str, str], saved: SavedFlavor
) -> tuple[str, ...]:
    if given is not None:
        if isinstance(given, str) or not all(isinstance(req, str) for req in given):
            raise InvalidInputError(
                "requirements must be a list of pip requirement strings", field="requirements"
            )
        return tuple(given)
    pinned = [
        f"{name}=={version}"
        for name, version in sorted(versions.items())
        if name not in _NOT_REQUIREMENTS
    ]
    return (*pinned, *(req for req in saved.requirements if req not in pinned))
