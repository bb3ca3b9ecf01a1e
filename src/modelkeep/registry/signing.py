"""Ed25519 signing of model versions.

A signature covers a version's *root digest*: the sha256 over the sorted per-file sha256 list of
its package (:func:`modelkeep.registry.manifest.root_digest`). The signed bytes are
:func:`signed_message` - a fixed domain prefix plus the hex digest - so a modelkeep signature can
never be replayed as a signature of something else.

Keys on disk are PEM: the private key PKCS#8 (optionally encrypted with a passphrase, written
with mode 0600), the public key SubjectPublicKeyInfo. In the registry and over HTTP, keys and
signatures travel as base64 of their raw bytes (32 and 64 bytes).

Example:
    >>> priv, pub = generate_keypair(tmp_path / "release")  # doctest: +SKIP
    >>> public_key, signature = sign_root_digest(load_private_key(priv), "ab" * 32)
    >>> verify_signature(public_key, signature, "ab" * 32)
    True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from modelkeep.exceptions import InvalidInputError

__all__ = [
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse_public_key",
    "public_key_b64",
    "sign_root_digest",
    "signed_message",
    "verify_signature",
]

_DOMAIN = b"modelkeep-model-root-digest-v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def signed_message(root_digest: str) -> bytes:
    """The exact bytes a version signature signs: a domain prefix plus the hex root digest."""
    if not _HEX64.fullmatch(root_digest):
        raise InvalidInputError(
            "root digest must be 64 lowercase hex characters", field="root_digest"
        )
    return _DOMAIN + root_digest.encode("ascii")


def _b64decode(text: str, field: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidInputError(f"{field} is not valid base64", field=field) from None
    if len(raw) != length:
        raise InvalidInputError(
            f"{field} must decode to {length} bytes, not {len(raw)}", field=field
        )
    return raw


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An ed25519 public key from base64 of its 32 raw bytes (InvalidInputError otherwise)."""
    return Ed25519PublicKey.from_public_bytes(_b64decode(text, "public_key", 32))


def public_key_b64(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Base64 of the raw public key (of a private key's public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key: str) -> str:
    """Short fingerprint of a base64 public key: 16 hex characters of the sha256 of its bytes."""
    return hashlib.sha256(_b64decode(public_key, "public_key", 32)).hexdigest()[:16]


def sign_root_digest(private_key: Ed25519PrivateKey, root_digest: str) -> tuple[str, str]:
    """Sign a root digest; returns ``(public_key, signature)``, both base64."""
    signature = private_key.sign(signed_message(root_digest))
    return public_key_b64(private_key), base64.b64encode(signature).decode("ascii")


def verify_signature(public_key: str, signature: str, root_digest: str) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s signature of ``root_digest``.

    Malformed keys or signatures raise InvalidInputError (fields ``public_key``/``signature``);
    a well-formed signature that does not verify returns False.
    """
    key = parse_public_key(public_key)
    raw = _b64decode(signature, "signature", 64)
    try:
        key.verify(raw, signed_message(root_digest))
    except InvalidSignature:
        return False
    return True


def generate_keypair(
    prefix: str | Path, passphrase: str | None = None, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write a new key pair to ``<prefix>.key`` (private, mode 0600) and ``<prefix>.pub``.

    Refuses (InvalidInputError, field ``path``) to overwrite existing files unless told to.
    """
    private_path = Path(f"{prefix}.key")
    public_path = Path(f"{prefix}.pub")
    for path in (private_path, public_path):
        if path.exists() and not overwrite:
            raise InvalidInputError(
                f"{path} already exists; replace it with overwrite=True (--force)", field="path"
            )
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    os.chmod(private_path, 0o600)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def load_private_key(path: str | Path, passphrase: str | None = None) -> Ed25519PrivateKey:
    """Read a PEM private key written by :func:`generate_keypair` (InvalidInputError if it is
    missing, not ed25519, or the passphrase is wrong)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read key {path}: {exc.strerror}", field="key") from None
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"{path} is not a usable private key: {exc}", field="key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInputError(f"{path} is not an ed25519 private key", field="key")
    return key


def load_public_key(source: str | Path) -> str:
    """A base64 raw public key from a PEM file path, or the base64 text itself."""
    text = str(source)
    if not Path(text).is_file():
        parse_public_key(text)  # validates
        return text
    data = Path(text).read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InvalidInputError(f"{text} is not a PEM public key: {exc}", field="key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError(f"{text} is not an ed25519 public key", field="key")
    return public_key_b64(key)
