"""The Noise server certificate chain: generation (for the sandbox) and verification (for clients).

During the handshake the server sends, encrypted, a protobuf ``CertChain{leaf, intermediate}``.
Each certificate is ``NoiseCertificate{details, signature}`` where ``details`` is a serialized
``Details{serial, issuer_serial, key, not_before, not_after}``:

* the intermediate's details are signed (XEdDSA) by the pinned *root* key and carry
  ``issuer_serial == 0`` (the root's serial; it must be present on the wire);
* the leaf's details are signed by the intermediate's key, its ``issuer_serial`` is the
  intermediate's ``serial``, and its ``key`` is the server's Noise static public key;
* both are valid at the current time (``not_before <= now <= not_after``, Unix seconds).

:func:`verify_certificate_chain` enforces every one of these checks and raises
:class:`~wamd.errors.CertificateError` naming the first that fails.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.crypto import KeyPair, verify_signature
from wamd.errors import CertificateError
from wamd.proto import cert_pb2

PRODUCTION_ROOT_PUBLIC_KEY = bytes.fromhex(
    "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
)
"""The public root key WhatsApp's production servers chain their certificates to."""

ROOT_SERIAL = 0
"""The serial of the root certificate (the intermediate's ``issuer_serial``)."""

SIGNATURE_SIZE = 64
KEY_SIZE = 32

_Certificate = cert_pb2.CertChain.NoiseCertificate
_Details = cert_pb2.CertChain.NoiseCertificate.Details


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    """The content of one certificate of the chain."""

    serial: int
    issuer_serial: int
    key: bytes
    not_before: int
    not_after: int

    def valid_at(self, now: float) -> bool:
        """Whether ``now`` (Unix seconds) lies inside the validity window."""
        return self.not_before <= now <= self.not_after


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A certificate chain that passed every check."""

    intermediate: CertificateDetails
    leaf: CertificateDetails


def encode_details(details: CertificateDetails) -> bytes:
    """Serialize certificate details, every field present (``issuer_serial`` 0 included)."""
    return _Details(
        serial=details.serial,
        issuer_serial=details.issuer_serial,
        key=details.key,
        not_before=details.not_before,
        not_after=details.not_after,
    ).SerializeToString()


def sign_certificate(details: bytes, issuer: KeyPair) -> bytes:
    """A serialized ``NoiseCertificate`` holding ``details`` signed by ``issuer``."""
    return _Certificate(details=details, signature=issuer.sign(details)).SerializeToString()


def encode_chain(*, intermediate: bytes, leaf: bytes) -> bytes:
    """A serialized ``CertChain`` from two serialized ``NoiseCertificate`` messages."""
    chain = cert_pb2.CertChain()
    chain.intermediate.ParseFromString(intermediate)
    chain.leaf.ParseFromString(leaf)
    return chain.SerializeToString()


def generate_certificate_chain(
    *,
    root: KeyPair,
    intermediate: KeyPair,
    leaf_key: bytes,
    intermediate_serial: int = 1,
    leaf_serial: int = 2,
    not_before: int | None = None,
    not_after: int | None = None,
) -> bytes:
    """Build a serialized ``CertChain`` for a server whose Noise static public key is ``leaf_key``.

    The intermediate is signed by ``root``, the leaf by ``intermediate``. The validity window
    defaults to one day in the past up to one year ahead.
    """
    if len(leaf_key) != KEY_SIZE:
        raise ValueError("leaf_key must be a 32-byte public key")
    now = int(time.time())
    start = now - 86400 if not_before is None else not_before
    end = now + 365 * 86400 if not_after is None else not_after
    intermediate_details = encode_details(
        CertificateDetails(intermediate_serial, ROOT_SERIAL, intermediate.public, start, end)
    )
    leaf_details = encode_details(
        CertificateDetails(leaf_serial, intermediate_serial, bytes(leaf_key), start, end)
    )
    return encode_chain(
        intermediate=sign_certificate(intermediate_details, root),
        leaf=sign_certificate(leaf_details, intermediate),
    )


def _parse_details(raw: bytes, which: str) -> tuple[CertificateDetails, bool]:
    """Parse details; the flag says whether ``issuer_serial`` was present on the wire."""
    message = _Details()
    try:
        message.ParseFromString(raw)
    except ProtobufDecodeError as exc:
        raise CertificateError(f"{which} certificate details are malformed") from exc
    for field in ("serial", "key", "not_before", "not_after"):
        if not message.HasField(field):
            raise CertificateError(f"{which} certificate details lack {field}")
    details = CertificateDetails(
        serial=message.serial,
        issuer_serial=message.issuer_serial,
        key=message.key,
        not_before=message.not_before,
        not_after=message.not_after,
    )
    return details, message.HasField("issuer_serial")


def verify_certificate_chain(
    chain: bytes,
    server_static: bytes,
    *,
    root_public_key: bytes = PRODUCTION_ROOT_PUBLIC_KEY,
    now: float | None = None,
) -> VerifiedChain:
    """Verify the server's certificate chain against the pinned ``root_public_key``.

    ``server_static`` is the Noise static key the server proved in the handshake; the leaf must
    certify exactly that key. ``now`` defaults to the current time. Raises
    :class:`CertificateError` on the first failed check.
    """
    if len(root_public_key) != KEY_SIZE:
        raise ValueError("root_public_key must be 32 bytes")
    message = cert_pb2.CertChain()
    try:
        message.ParseFromString(chain)
    except ProtobufDecodeError as exc:
        raise CertificateError("certificate chain is malformed") from exc
    parts: dict[str, tuple[bytes, bytes]] = {}
    for which in ("intermediate", "leaf"):
        if not message.HasField(which):
            raise CertificateError(f"certificate chain lacks the {which} certificate")
        cert = getattr(message, which)
        if not cert.HasField("details") or not cert.HasField("signature"):
            raise CertificateError(f"{which} certificate lacks details or signature")
        if len(cert.signature) != SIGNATURE_SIZE:
            raise CertificateError(f"{which} certificate signature is not 64 bytes")
        parts[which] = (cert.details, cert.signature)

    raw, signature = parts["intermediate"]
    if not verify_signature(root_public_key, raw, signature):
        raise CertificateError("intermediate certificate is not signed by the pinned root key")
    intermediate, has_issuer = _parse_details(raw, "intermediate")
    if not has_issuer or intermediate.issuer_serial != ROOT_SERIAL:
        raise CertificateError(
            f"intermediate certificate issuer serial is not the root's ({ROOT_SERIAL})"
        )
    if len(intermediate.key) != KEY_SIZE:
        raise CertificateError("intermediate certificate key is not 32 bytes")

    raw, signature = parts["leaf"]
    if not verify_signature(intermediate.key, raw, signature):
        raise CertificateError("leaf certificate is not signed by the intermediate key")
    leaf, has_issuer = _parse_details(raw, "leaf")
    if not has_issuer or leaf.issuer_serial != intermediate.serial:
        raise CertificateError("leaf certificate issuer serial does not match the intermediate")
    if not hmac.compare_digest(leaf.key, bytes(server_static)):
        raise CertificateError("leaf certificate key is not the server's static key")

    moment = time.time() if now is None else now
    for which, details in (("intermediate", intermediate), ("leaf", leaf)):
        if moment < details.not_before:
            raise CertificateError(f"{which} certificate is not valid yet")
        if moment > details.not_after:
            raise CertificateError(f"{which} certificate has expired")
    return VerifiedChain(intermediate=intermediate, leaf=leaf)
