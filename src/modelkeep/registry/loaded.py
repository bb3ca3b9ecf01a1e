"""A model loaded from a verified package: the flavor's model plus what its manifest says.

:class:`LoadedModel` is what ``load_package`` and ``Client.load_model`` return. ``predict`` and
``predict_proba`` first check the data against the package's signature (when it has one) and
hand the flavor the converted data, so a model never sees columns in the wrong order or a
string where it was trained on numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError, PackageIntegrityError
from modelkeep.registry.flavors.base import FlavorModel
from modelkeep.registry.manifest import MANIFEST_FILE, Manifest
from modelkeep.registry.signature import ModelSignature, load_input_example

__all__ = ["LoadedModel"]


class LoadedModel:
    """A loaded model package.

    Attributes:
        manifest: the package's parsed ``MODEL.json``.
        root_digest: the package's root digest, verified when it was loaded.
        path: the package directory (it holds the input example and any artifacts).
        uri: the URI it was loaded from (``""`` when loaded from a directory).
        version: the registered version, when loaded through ``models:/``.
        signature: what the model takes and returns, or None when the package has none.

    Example:
        >>> model = load_package(Path("pkg"))  # doctest: +SKIP
        >>> model.predict(pd.DataFrame({"age": [31], "city": ["Oslo"]}))  # doctest: +SKIP
        array([1])
    """

    def __init__(
        self,
        model: FlavorModel,
        manifest: Manifest,
        root_digest: str,
        path: Path,
        *,
        uri: str = "",
        version: ModelVersion | None = None,
    ) -> None:
        self._model = model
        self.manifest = manifest
        self.root_digest = root_digest
        self.path = Path(path)
        self.uri = uri
        self.version = version
        self.signature = _parse_signature(manifest)

    @property
    def flavor(self) -> str:
        """Name of the flavor that saved (and loaded) the model."""
        return self.manifest.flavor

    @property
    def flavor_model(self) -> FlavorModel:
        """The flavor's model, whose ``predict`` takes data already checked by
        :meth:`validate_input` (a server validating once per batch calls it directly)."""
        return self._model

    @property
    def raw(self) -> Any:
        """The native model object (estimator, Booster, InferenceSession, PythonModel...)."""
        return self._model.raw

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`predict_proba` is available."""
        return self._model.has_proba

    @property
    def input_example(self) -> Any:
        """The stored input example (a DataFrame or numpy array), or None."""
        if self.manifest.input_example is None:
            return None
        return load_input_example(self.path / self.manifest.input_example)

    def validate_input(self, data: Any) -> Any:
        """``data`` checked against the signature and converted as the model expects it.

        Returns ``data`` unchanged when the package has no signature.

        Raises:
            InputSchemaError: listing every problem found.
        """
        if self.signature is None:
            return data
        return self.signature.validate_input(data)

    def predict(self, data: Any) -> Any:
        """Validate ``data`` (see :meth:`validate_input`), then predict with the model."""
        return self._model.predict(self.validate_input(data))

    def predict_proba(self, data: Any) -> Any:
        """Validate ``data``, then return class probabilities (InvalidInputError if none)."""
        converted = self.validate_input(data)
        return self._model.predict_proba(converted)

    def __repr__(self) -> str:
        where = self.uri or str(self.path)
        return f"<LoadedModel {self.flavor} {where} root={self.root_digest[:12]}>"


def _parse_signature(manifest: Manifest) -> ModelSignature | None:
    if manifest.signature is None:
        return None
    try:
        return ModelSignature.from_dict(manifest.signature)
    except InvalidInputError as exc:
        raise PackageIntegrityError(
            f"{MANIFEST_FILE} holds a malformed signature: {exc}", field=MANIFEST_FILE
        ) from None
