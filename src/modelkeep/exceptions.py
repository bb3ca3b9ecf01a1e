"""The modelkeep error tree.

Every error modelkeep raises on purpose derives from :class:`ModelkeepError`. The HTTP layer maps
each class to one status code at a single boundary (``server/errors.py``); the CLI prints the
message without a traceback.

```
ModelkeepError                       500  (never raised for bad input)
├── InvalidInputError                400  bad value from a caller; ``field`` names it
│   ├── InvalidFilterError           400  search filter did not parse; ``position`` points at it
│   ├── UnsafePathError              400  artifact path escapes the store root
│   ├── InputSchemaError             400  data does not fit a model signature; ``problems``
│   ├── UnsafeArchiveError           400  an archive entry is absolute, climbs, links or is huge
│   └── UnsafeModelError             400  loading would run code; pass ``allow_code=True``
├── NotFoundError                    404  unknown experiment, run, artifact, token
├── AlreadyExistsError               409  unique name taken
├── ConflictError                    409  the stored state forbids the change
│   ├── ImmutableParamError          409  a param logged again with a different value
│   ├── PackageIntegrityError        409  a model package file differs from its manifest
│   └── SignatureError               409  a signature is missing, bad or from an untrusted key
├── AuthenticationError              401  missing or unknown API token
├── PermissionDeniedError            403  token lacks the role a route needs
├── PayloadTooLargeError             413  request body over the limit
├── UnsupportedMediaTypeError        415  request body in a format the route does not read
└── StoreError                       503  the backend failed (database down, locked too long)
    └── StoreUnavailableError        503  server or database could not be reached
```
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConflictError",
    "ImmutableParamError",
    "InputSchemaError",
    "InvalidFilterError",
    "InvalidInputError",
    "ModelkeepError",
    "NotFoundError",
    "PackageIntegrityError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "SignatureError",
    "StoreError",
    "StoreUnavailableError",
    "UnsafeArchiveError",
    "UnsafeModelError",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
]


class ModelkeepError(Exception):
    """Root of every error modelkeep raises on purpose.

    Attributes:
        message: human-readable explanation, safe to show to a user.
        field: the name of the input that was wrong, when one is to blame.
    """

    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInputError(ModelkeepError):
    """A caller passed a value that cannot be accepted."""

    code = "invalid_input"


class InvalidFilterError(InvalidInputError):
    """A search filter or order-by clause did not parse.

    Attributes:
        position: 0-based character offset of the offending token in the filter text.
    """

    code = "invalid_filter"

    def __init__(self, message: str, *, position: int | None = None, field: str = "filter"):
        super().__init__(message, field=field)
        self.position = position


class UnsafePathError(InvalidInputError):
    """An artifact path would leave the store root or is otherwise not allowed."""

    code = "unsafe_path"


class InputSchemaError(InvalidInputError):
    """Input data does not fit a model's signature.

    Attributes:
        problems: every problem found, one line each (all are reported at once).
    """

    code = "input_schema_mismatch"

    def __init__(self, problems: list[str], *, field: str = "input") -> None:
        shown = "; ".join(problems)
        super().__init__(f"input does not match the model signature: {shown}", field=field)
        self.problems = list(problems)


class UnsafeArchiveError(InvalidInputError):
    """An archive holds an entry that may not be extracted (absolute, ``..``, link, device,
    or over the size limits)."""

    code = "unsafe_archive"


class UnsafeModelError(InvalidInputError):
    """Loading this model would execute code or trust types off the allowlist.

    The message says which types or flavor, and that ``allow_code=True`` (``--allow-code``)
    accepts the risk.
    """

    code = "unsafe_model"

    def __init__(self, message: str, *, field: str = "allow_code") -> None:
        super().__init__(message, field=field)


class NotFoundError(ModelkeepError):
    """The thing asked for does not exist."""

    code = "not_found"


class AlreadyExistsError(ModelkeepError):
    """A unique name is already taken."""

    code = "already_exists"


class ConflictError(ModelkeepError):
    """The stored state forbids the requested change."""

    code = "conflict"


class ImmutableParamError(ConflictError):
    """A param was logged again with a different value; params never change once set."""

    code = "immutable_param"


class PackageIntegrityError(ConflictError):
    """A model package's files do not match the sha256 digests of its manifest (or the
    registry's root digest); the message names the file."""

    code = "package_integrity"


class SignatureError(ConflictError):
    """A model version's signature is missing, does not verify, or is from an untrusted key."""

    code = "signature_error"

    def __init__(self, message: str, *, field: str = "signature") -> None:
        super().__init__(message, field=field)


class AuthenticationError(ModelkeepError):
    """No API token, or one the server does not know (or that was revoked)."""

    code = "unauthenticated"


class PermissionDeniedError(ModelkeepError):
    """The token is valid but its role may not do this."""

    code = "permission_denied"


class PayloadTooLargeError(ModelkeepError):
    """A request body is larger than the server accepts."""

    code = "payload_too_large"


class UnsupportedMediaTypeError(ModelkeepError):
    """A request body's ``Content-Type`` is not one the route reads; ``field`` is
    ``content-type``."""

    code = "unsupported_media_type"


class StoreError(ModelkeepError):
    """The storage backend failed for a reason that is not the caller's input."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The database or tracking server could not be reached."""

    code = "store_unavailable"
