"""Logical artifact paths: validation and safe joining onto a directory.

A run's artifact tree is addressed by *logical* paths such as ``plots/roc.png``. Those paths come
from users, from HTTP requests and from a remote server, so every one is validated before it is
stored or turned into a file-system path. The rules are deliberately strict and identical for the
Python API, the CLI and the server:

* not empty, at most :data:`MAX_PATH_LENGTH` characters;
* relative: no leading ``/``, no ``//host`` share, no Windows drive (``C:\\x``, ``C:/x``);
* no ``..`` segment anywhere, no backslash, no NUL or other control character;
* the same holds for every percent-decoded form of the path (decoded repeatedly until it stops
  changing) and for its Unicode NFKC form, so ``%2e%2e%2f``, ``%252e%252e%252f`` and fullwidth
  dots are refused too, whatever layer decodes them later.

The logical path that is stored is the *raw* path, normalised (empty and ``.`` segments dropped,
no trailing slash); percent signs in it are kept literally.

Example:
    >>> validate_artifact_path("plots//./roc curve.png")
    'plots/roc curve.png'
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from modelkeep.exceptions import UnsafePathError

__all__ = [
    "MAX_PATH_LENGTH",
    "TRAVERSAL_PAYLOADS",
    "safe_join",
    "validate_artifact_path",
]

MAX_PATH_LENGTH = 1024
# Real clients encode at most twice; anything still changing after this many rounds is an attack.
_MAX_DECODE_ROUNDS = 5
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

TRAVERSAL_PAYLOADS: tuple[str, ...] = (
    # plain parent-directory segments
    "..",
    "../x",
    "../../etc/passwd",
    "a/../../b",
    "a/..",
    "a/./../../b",
    "x/../../../../../../etc/passwd",
    # absolute paths and shares
    "/etc/passwd",
    "/",
    "//server/share",
    "C:\\Windows",
    "C:/Windows/win.ini",
    "c:x",
    # backslashes
    "..\\x",
    "a\\b",
    "\\\\server\\share",
    # percent-encoding, single and double
    "%2e%2e%2fx",
    "%2e%2e/x",
    "..%2fx",
    ".%2e/x",
    "%2E%2E%2Fx",
    "a/%2e%2e/%2e%2e/b",
    "%2fetc%2fpasswd",
    "%2F%2Fserver%2Fshare",
    "..%5cx",
    "%2e%2e%5cx",
    "C%3A/Windows",
    "%252e%252e%252fx",
    "..%255cx",
    "%25252e%25252e%25252fx",
    "%%32%65%%32%65%%32%66x",
    # NUL and control characters, raw and encoded
    "a/%00b",
    "a/b%00.txt",
    "a/\x00b",
    "a/\nb",
    "a/\tb",
    "a/%0ab",
    # Unicode look-alikes that NFKC folds into ".." or "/"
    "\uff0e\uff0e/x",
    "..\uff0fx",
    "\u2025/x",
    # only the root itself, or too long
    ".",
    "./",
    "a/" * 513,
)
"""Hostile artifact paths every layer must refuse; shared by the library and server tests."""


def _unsafe(path: str, reason: str) -> UnsafePathError:
    shown = path if len(path) <= 80 else path[:77] + "..."
    return UnsafePathError(f"unsafe artifact path {shown!r}: {reason}", field="path")


def _decoded_forms(path: str) -> list[str]:
    """The path, each successive percent-decoding of it, and the NFKC form of each."""
    forms = [path]
    current = path
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    else:
        if unquote(current) != current:
            raise _unsafe(path, "too many levels of percent-encoding")
    return forms + [unicodedata.normalize("NFKC", form) for form in forms]


def _problem(form: str) -> str | None:
    """Why this (possibly decoded) form is unsafe, or None when it is fine."""
    if "\\" in form:
        return "backslashes are not allowed"
    if _CONTROL_CHARS.search(form):
        return "NUL and control characters are not allowed"
    if form.startswith("/") or _WINDOWS_DRIVE.match(form):
        return "absolute paths are not allowed"
    if ".." in form.split("/"):
        return "'..' segments are not allowed"
    return None


def validate_artifact_path(path: str) -> str:
    """Check a logical artifact path and return its normalised form.

    Args:
        path: a relative, ``/``-separated path inside a run's artifact tree.

    Returns:
        The path with empty and ``.`` segments removed (so no leading or trailing slash).

    Raises:
        UnsafePathError: (``field="path"``) if the path is empty, too long, absolute, contains a
            ``..`` segment, a backslash or a control character, in its raw form or in any
            percent-decoded or NFKC-normalised form.

    Example:
        >>> validate_artifact_path("model/weights.bin")
        'model/weights.bin'
    """
    if not isinstance(path, str):
        raise UnsafePathError("artifact path must be a string", field="path")
    if not path:
        raise _unsafe(path, "the path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise _unsafe(path, f"longer than {MAX_PATH_LENGTH} characters")
    for form in _decoded_forms(path):
        reason = _problem(form)
        if reason is not None:
            raise _unsafe(path, reason)
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if not segments:
        raise _unsafe(path, "the path names no file")
    return "/".join(segments)


def safe_join(root: Path, logical: str) -> Path:
    """Join a logical artifact path onto ``root``, proving the result stays inside it.

    The path is validated with :func:`validate_artifact_path`, then the joined path is resolved
    (following any symlinks that already exist on the way) and must still lie inside the
    resolved ``root``. Nothing needs to exist yet.

    Args:
        root: the directory the result must stay inside.
        logical: a logical artifact path.

    Returns:
        The resolved absolute path inside ``root``.

    Raises:
        UnsafePathError: if the path is invalid or resolves outside ``root`` (e.g. through a
            symlink pointing elsewhere).

    Example:
        >>> safe_join(Path("/srv/store"), "a/b.txt").as_posix()
        '/srv/store/a/b.txt'
    """
    normalised = validate_artifact_path(logical)
    resolved_root = Path(root).resolve()
    candidate = resolved_root.joinpath(*normalised.split("/")).resolve()
    if not candidate.is_relative_to(resolved_root):
        raise _unsafe(logical, "it resolves outside the root (a symlink leaves it)")
    return candidate
