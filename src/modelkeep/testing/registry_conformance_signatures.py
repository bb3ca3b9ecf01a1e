"""Conformance tests for version signatures and the require-signatures alias gate.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`. Signatures are real
ed25519 signatures of the version's root digest, made with
:func:`modelkeep.registry.signing.sign_root_digest`.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelkeep.entities import VersionSignature, now_ms
from modelkeep.exceptions import InvalidInputError, SignatureError
from modelkeep.registry.signing import key_id, sign_root_digest
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import digest, new_key, new_versions, trust

__all__ = ["SignatureConformance", "SignedAliasConformance"]


def sign(
    store: BaseStore, key: Ed25519PrivateKey, version: int, name: str = "churn", actor: str = ""
) -> VersionSignature:
    """Sign ``version``'s stored root digest with ``key`` and add the signature."""
    root = store.get_model_version(name, version).root_digest
    public, signature = sign_root_digest(key, root)
    return store.add_model_version_signature(name, version, public, signature, actor=actor)


class SignatureConformance:
    """``add_model_version_signature`` verifies before storing; one signature per key."""

    def test_add_returns_the_signature(self, store: BaseStore) -> None:
        (version,) = new_versions(store, 1)
        key, public = new_key()
        _, signature = sign_root_digest(key, version.root_digest)
        before = now_ms()
        stored = store.add_model_version_signature("churn", 1, public, signature, actor="alice")
        assert (stored.public_key, stored.signature, stored.signed_by) == (
            public,
            signature,
            "alice",
        )
        assert stored.key_id == key_id(public)
        assert before <= stored.timestamp <= now_ms()

    def test_version_lists_stored_signature(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, _ = new_key()
        stored = sign(store, key, 1)
        assert store.get_model_version("churn", 1).signatures == (stored,)

    def test_signatures_of_two_keys_are_both_kept(self, store: BaseStore) -> None:
        new_versions(store, 1)
        (first, _), (second, _) = new_key(), new_key()
        kept = {sign(store, first, 1).key_id, sign(store, second, 1).key_id}
        assert {s.key_id for s in store.get_model_version("churn", 1).signatures} == kept

    def test_same_key_signing_again_replaces_its_signature(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, _ = new_key()
        sign(store, key, 1, actor="alice")
        sign(store, key, 1, actor="bob")
        signatures = store.get_model_version("churn", 1).signatures
        assert [s.signed_by for s in signatures] == ["bob"]

    def test_signature_of_other_digest_raises_signature_error(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, _ = new_key()
        public, signature = sign_root_digest(key, digest(999))
        with pytest.raises(SignatureError):
            store.add_model_version_signature("churn", 1, public, signature)

    def test_signature_by_other_key_raises_signature_error(self, store: BaseStore) -> None:
        (version,) = new_versions(store, 1)
        (signer, _), (_, claimed) = new_key(), new_key()
        _, signature = sign_root_digest(signer, version.root_digest)
        with pytest.raises(SignatureError):
            store.add_model_version_signature("churn", 1, claimed, signature)

    def test_bad_signature_stores_nothing(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, _ = new_key()
        public, signature = sign_root_digest(key, digest(999))
        with pytest.raises(SignatureError):
            store.add_model_version_signature("churn", 1, public, signature)
        assert store.get_model_version("churn", 1).signatures == ()

    def test_bad_signature_keeps_earlier_signature_of_same_key(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, _ = new_key()
        good = sign(store, key, 1)
        public, bad = sign_root_digest(key, digest(999))
        with pytest.raises(SignatureError):
            store.add_model_version_signature("churn", 1, public, bad)
        assert store.get_model_version("churn", 1).signatures == (good,)

    @pytest.mark.parametrize(
        "public_key",
        ["not base64!", base64.b64encode(b"short").decode(), ""],
    )
    def test_malformed_public_key_is_invalid(self, store: BaseStore, public_key: str) -> None:
        (version,) = new_versions(store, 1)
        key, _ = new_key()
        _, signature = sign_root_digest(key, version.root_digest)
        with pytest.raises(InvalidInputError) as info:
            store.add_model_version_signature("churn", 1, public_key, signature)
        assert info.value.field == "public_key"

    @pytest.mark.parametrize(
        "signature",
        ["%%%", base64.b64encode(b"x" * 63).decode(), ""],
    )
    def test_malformed_signature_is_invalid(self, store: BaseStore, signature: str) -> None:
        new_versions(store, 1)
        _, public = new_key()
        with pytest.raises(InvalidInputError) as info:
            store.add_model_version_signature("churn", 1, public, signature)
        assert info.value.field == "signature"
        assert store.get_model_version("churn", 1).signatures == ()


class SignedAliasConformance:
    """With ``require_signatures``, aliases only point at versions signed by a trusted key."""

    def test_alias_to_version_signed_by_trusted_key_is_set(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, public = new_key()
        sign(store, key, 1)
        trust(store, "churn", public)
        store.set_model_alias("churn", "champion", 1)
        assert store.get_model_version_by_alias("churn", "champion").version == 1

    def test_alias_to_unsigned_version_raises_signature_error(self, store: BaseStore) -> None:
        new_versions(store, 1)
        trust(store, "churn", new_key()[1])
        with pytest.raises(SignatureError):
            store.set_model_alias("churn", "champion", 1)

    def test_refused_alias_keeps_its_version_and_history(self, store: BaseStore) -> None:
        new_versions(store, 2)
        key, public = new_key()
        sign(store, key, 1)
        trust(store, "churn", public)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(SignatureError):
            store.set_model_alias("churn", "champion", 2)
        assert store.get_model_version_by_alias("churn", "champion").version == 1
        assert [c.version for c in store.list_alias_history("churn")] == [1]

    def test_alias_to_version_signed_by_untrusted_key_is_refused(self, store: BaseStore) -> None:
        new_versions(store, 1)
        untrusted, _ = new_key()
        sign(store, untrusted, 1)
        trust(store, "churn", new_key()[1])
        with pytest.raises(SignatureError):
            store.set_model_alias("churn", "champion", 1)

    def test_any_trusted_key_suffices(self, store: BaseStore) -> None:
        new_versions(store, 1)
        (_, first_pub), (second, second_pub) = new_key(), new_key()
        sign(store, second, 1)
        trust(store, "churn", first_pub, second_pub)
        assert store.set_model_alias("churn", "champion", 1).version == 1

    def test_removing_a_key_from_trust_blocks_its_versions(self, store: BaseStore) -> None:
        new_versions(store, 1)
        (old, old_pub), (_, new_pub) = new_key(), new_key()
        sign(store, old, 1)
        trust(store, "churn", old_pub)
        store.update_registered_model("churn", trusted_keys=[new_pub])
        with pytest.raises(SignatureError):
            store.set_model_alias("churn", "champion", 1)

    def test_requirement_refused_while_an_alias_points_at_an_unsigned_version(
        self, store: BaseStore
    ) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(SignatureError) as caught:
            trust(store, "churn", new_key()[1])
        assert "champion" in caught.value.message
        model = store.get_registered_model("churn")
        assert (model.require_signatures, model.trusted_keys) == (False, ())

    def test_requirement_accepted_once_aliased_versions_are_signed(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        key, public = new_key()
        sign(store, key, 1)
        trust(store, "churn", public)
        assert store.get_registered_model("churn").require_signatures

    def test_dropping_the_key_an_alias_relies_on_is_refused(self, store: BaseStore) -> None:
        new_versions(store, 1)
        key, public = new_key()
        other = new_key()[1]
        sign(store, key, 1)
        trust(store, "churn", public)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(SignatureError):
            store.update_registered_model("churn", trusted_keys=[other])
        assert store.get_registered_model("churn").trusted_keys == (public,)

    def test_unsigned_version_is_accepted_when_not_required(self, store: BaseStore) -> None:
        new_versions(store, 1)
        store.update_registered_model("churn", trusted_keys=[new_key()[1]])
        assert store.set_model_alias("churn", "champion", 1).version == 1

    def test_turning_requirement_off_accepts_unsigned_versions(self, store: BaseStore) -> None:
        new_versions(store, 1)
        trust(store, "churn", new_key()[1])
        store.update_registered_model("churn", require_signatures=False)
        assert store.set_model_alias("churn", "champion", 1).version == 1
