"""Test-only mirror of the primary phone's side of pairing (what a server's phone does).

Written from the protocol description, independently of ``wamd.pairing``; used to check the
companion code and to drive the in-memory fake server.
"""

from __future__ import annotations

import os
import time

from wamd.crypto import KeyPair, aes_ctr, aes_gcm_decrypt, hkdf_sha256, hmac_sha256
from wamd.pairing.code import derive_code_key
from wamd.proto import adv_pb2


def device_identity(
    account: KeyPair,
    companion_identity: bytes,
    adv_secret: bytes,
    *,
    key_index: int = 1,
    hosted: bool = False,
    raw_id: int = 7,
    bad_hmac: bool = False,
    bad_signature: bool = False,
) -> bytes:
    """The ``<device-identity>`` bytes of a pair-success, as the primary device builds them."""
    details = adv_pb2.ADVDeviceIdentity(
        raw_id=raw_id,
        timestamp=int(time.time()),
        key_index=key_index,
        account_type=adv_pb2.HOSTED if hosted else adv_pb2.E2EE,
        device_type=adv_pb2.HOSTED if hosted else adv_pb2.E2EE,
    ).SerializeToString()
    prefix = b"\x06\x05" if hosted else b"\x06\x00"
    signature = account.sign(prefix + details + companion_identity)
    if bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    signed = adv_pb2.ADVSignedDeviceIdentity(
        details=details, account_signature_key=account.public, account_signature=signature
    ).SerializeToString()
    mac = hmac_sha256(adv_secret, (b"\x06\x05" if hosted else b"") + signed)
    if bad_hmac:
        mac = bytes(32)
    return adv_pb2.ADVSignedDeviceIdentityHMAC(
        details=signed,
        hmac=mac,
        account_type=adv_pb2.HOSTED if hosted else adv_pb2.E2EE,
    ).SerializeToString()


class PrimaryLinkCode:
    """The primary's side of phone-number pairing for one companion_hello."""

    def __init__(self, code: str, companion_wrapped: bytes, primary_identity: KeyPair) -> None:
        salt, iv, ct = companion_wrapped[:32], companion_wrapped[32:48], companion_wrapped[48:80]
        self.companion_ephemeral = aes_ctr(derive_code_key(code, salt), iv, ct)
        self.identity = primary_identity
        self.ephemeral = KeyPair.generate()
        salt, iv = os.urandom(32), os.urandom(16)
        self.wrapped = salt + iv + aes_ctr(derive_code_key(code, salt), iv, self.ephemeral.public)

    def adv_secret(self, wrapped_bundle: bytes, companion_identity: bytes) -> bytes:
        """Open the companion's key bundle and derive the adv secret (raises CryptoError)."""
        shared = self.ephemeral.dh(self.companion_ephemeral)
        salt, nonce, ct = wrapped_bundle[:32], wrapped_bundle[32:44], wrapped_bundle[44:]
        info = b"link_code_pairing_key_bundle_encryption_key"
        key = hkdf_sha256(shared, 32, salt=salt, info=info)
        bundle = aes_gcm_decrypt(key, nonce, ct)
        assert bundle[:32] == companion_identity
        assert bundle[32:64] == self.identity.public
        identity_shared = self.identity.dh(companion_identity)
        return hkdf_sha256(shared + identity_shared + bundle[64:96], 32, info=b"adv_secret")
