"""Certificate chain generation and verification: every check, each failing on its own."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from wamd.crypto import KeyPair
from wamd.errors import CertificateError, HandshakeError
from wamd.noise.certificates import (
    PRODUCTION_ROOT_PUBLIC_KEY,
    CertificateDetails,
    encode_chain,
    encode_details,
    generate_certificate_chain,
    sign_certificate,
    verify_certificate_chain,
)
from wamd.proto import cert_pb2

NOW = 1_800_000_000


class Keys:
    def __init__(self) -> None:
        self.root = KeyPair.generate()
        self.intermediate = KeyPair.generate()
        self.leaf = KeyPair.generate()

    def chain(
        self,
        *,
        intermediate: CertificateDetails | None = None,
        leaf: CertificateDetails | None = None,
        root_signer: KeyPair | None = None,
        intermediate_signer: KeyPair | None = None,
    ) -> bytes:
        intermediate = intermediate or CertificateDetails(
            7, 0, self.intermediate.public, NOW - 10, NOW + 10
        )
        leaf = leaf or CertificateDetails(9, 7, self.leaf.public, NOW - 10, NOW + 10)
        return encode_chain(
            intermediate=sign_certificate(encode_details(intermediate), root_signer or self.root),
            leaf=sign_certificate(encode_details(leaf), intermediate_signer or self.intermediate),
        )

    def verify(self, chain: bytes, static: bytes | None = None, now: float = NOW) -> None:
        verify_certificate_chain(
            chain,
            self.leaf.public if static is None else static,
            root_public_key=self.root.public,
            now=now,
        )


@pytest.fixture
def keys() -> Keys:
    return Keys()


def test_generated_chain_verifies(keys: Keys) -> None:
    chain = generate_certificate_chain(
        root=keys.root, intermediate=keys.intermediate, leaf_key=keys.leaf.public
    )
    verified = verify_certificate_chain(chain, keys.leaf.public, root_public_key=keys.root.public)
    assert verified.intermediate.issuer_serial == 0
    assert verified.leaf.issuer_serial == verified.intermediate.serial
    assert verified.leaf.key == keys.leaf.public
    assert verified.leaf.valid_at(time.time())


def test_generated_intermediate_has_issuer_serial_zero_on_the_wire(keys: Keys) -> None:
    # Baileys (protobufjs) reads an absent issuer_serial as null and rejects the chain.
    chain = cert_pb2.CertChain()
    chain.ParseFromString(
        generate_certificate_chain(
            root=keys.root, intermediate=keys.intermediate, leaf_key=keys.leaf.public
        )
    )
    assert b"\x10\x00" in chain.intermediate.details


def test_hand_built_chain_verifies(keys: Keys) -> None:
    keys.verify(keys.chain())


def test_production_root_is_the_default() -> None:
    assert PRODUCTION_ROOT_PUBLIC_KEY.hex() == (
        "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
    )
    keys = Keys()
    with pytest.raises(CertificateError, match="pinned root"):
        verify_certificate_chain(keys.chain(), keys.leaf.public, now=NOW)


def test_certificate_error_is_a_handshake_error() -> None:
    assert issubclass(CertificateError, HandshakeError)


Mutation = Callable[[Keys], bytes]

FAILURES: dict[str, tuple[Mutation, str]] = {
    "wrong root": (lambda k: k.chain(root_signer=KeyPair.generate()), "pinned root"),
    "wrong intermediate signer": (
        lambda k: k.chain(intermediate_signer=KeyPair.generate()),
        "not signed by the intermediate",
    ),
    "intermediate issuer not root": (
        lambda k: k.chain(intermediate=CertificateDetails(7, 1, k.intermediate.public, 0, 2**40)),
        "issuer serial is not the root",
    ),
    "intermediate key short": (
        lambda k: k.chain(intermediate=CertificateDetails(7, 0, b"short", 0, 2**40)),
        "key is not 32 bytes",
    ),
    "leaf issuer mismatch": (
        lambda k: k.chain(leaf=CertificateDetails(9, 8, k.leaf.public, 0, 2**40)),
        "issuer serial does not match",
    ),
    "leaf key is another key": (
        lambda k: k.chain(leaf=CertificateDetails(9, 7, KeyPair.generate().public, 0, 2**40)),
        "not the server's static key",
    ),
    "intermediate expired": (
        lambda k: k.chain(
            intermediate=CertificateDetails(7, 0, k.intermediate.public, NOW - 20, NOW - 1)
        ),
        "intermediate certificate has expired",
    ),
    "intermediate not yet valid": (
        lambda k: k.chain(
            intermediate=CertificateDetails(7, 0, k.intermediate.public, NOW + 1, NOW + 20)
        ),
        "intermediate certificate is not valid yet",
    ),
    "leaf expired": (
        lambda k: k.chain(leaf=CertificateDetails(9, 7, k.leaf.public, NOW - 20, NOW - 1)),
        "leaf certificate has expired",
    ),
    "leaf not yet valid": (
        lambda k: k.chain(leaf=CertificateDetails(9, 7, k.leaf.public, NOW + 1, NOW + 20)),
        "leaf certificate is not valid yet",
    ),
    "garbage": (lambda k: b"\xff\xff\xff\xff", "malformed"),
    "empty": (lambda k: b"", "lacks the intermediate"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_each_check_fails_on_its_own(keys: Keys, case: str) -> None:
    mutate, message = FAILURES[case]
    with pytest.raises(CertificateError, match=message):
        keys.verify(mutate(keys))


def _edit(chain: bytes, edit: Callable[[cert_pb2.CertChain], None]) -> bytes:
    message = cert_pb2.CertChain()
    message.ParseFromString(chain)
    edit(message)
    return message.SerializeToString()


def _drop_issuer(keys: Keys) -> Callable[[cert_pb2.CertChain], None]:
    def edit(message: cert_pb2.CertChain) -> None:
        details = cert_pb2.CertChain.NoiseCertificate.Details()
        details.ParseFromString(message.intermediate.details)
        details.ClearField("issuer_serial")
        message.intermediate.details = details.SerializeToString()
        message.intermediate.signature = keys.root.sign(message.intermediate.details)

    return edit


STRUCTURAL: dict[str, tuple[Callable[[Keys], Callable[[cert_pb2.CertChain], None]], str]] = {
    "no leaf": (lambda k: lambda m: m.ClearField("leaf"), "lacks the leaf"),
    "no intermediate": (lambda k: lambda m: m.ClearField("intermediate"), "lacks the intermediate"),
    "leaf without signature": (
        lambda k: lambda m: m.leaf.ClearField("signature"),
        "lacks details or signature",
    ),
    "intermediate without details": (
        lambda k: lambda m: m.intermediate.ClearField("details"),
        "lacks details or signature",
    ),
    "short signature": (
        lambda k: lambda m: setattr(m.leaf, "signature", m.leaf.signature[:63]),
        "not 64 bytes",
    ),
    "flipped signature bit": (
        lambda k: (
            lambda m: setattr(
                m.intermediate,
                "signature",
                bytes([m.intermediate.signature[0] ^ 1]) + m.intermediate.signature[1:],
            )
        ),
        "pinned root",
    ),
    "issuer serial absent": (_drop_issuer, "issuer serial is not the root"),
    "leaf details garbage": (
        lambda k: (
            lambda m: (
                setattr(m.leaf, "details", b"\xff\xff"),
                setattr(m.leaf, "signature", k.intermediate.sign(b"\xff\xff")),
            )
        ),
        "malformed",
    ),
}


@pytest.mark.parametrize("case", list(STRUCTURAL))
def test_structural_defects_are_certificate_errors(keys: Keys, case: str) -> None:
    make_edit, message = STRUCTURAL[case]
    with pytest.raises(CertificateError, match=message):
        keys.verify(_edit(keys.chain(), make_edit(keys)))


def test_details_missing_a_field(keys: Keys) -> None:
    def edit(message: cert_pb2.CertChain) -> None:
        details = cert_pb2.CertChain.NoiseCertificate.Details()
        details.ParseFromString(message.leaf.details)
        details.ClearField("not_after")
        message.leaf.details = details.SerializeToString()
        message.leaf.signature = keys.intermediate.sign(message.leaf.details)

    with pytest.raises(CertificateError, match="lack not_after"):
        keys.verify(_edit(keys.chain(), edit))


def test_generator_rejects_a_bad_leaf_key(keys: Keys) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        generate_certificate_chain(root=keys.root, intermediate=keys.intermediate, leaf_key=b"x")


def test_verifier_rejects_a_bad_root_key(keys: Keys) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verify_certificate_chain(keys.chain(), keys.leaf.public, root_public_key=b"x")
