"""Phone-number pairing: the 8-character code and the ``link_code_companion_reg`` crypto.

The companion (this client) picks 5 random bytes and shows them as 8 characters of the
alphabet ``123456789ABCDEFGHJKLMNPQRSTVWXYZ`` (``XXXX-XXXX``). Both sides wrap their
ephemeral X25519 public key under a key derived from the code:
``salt(32) | iv(16) | AES-256-CTR(PBKDF2-SHA256(code, salt, 131072, 32), iv, pub)`` (80 bytes).

Stages: ``companion_hello`` (client -> server: wrapped companion ephemeral key), the primary's
``notification`` (wrapped primary ephemeral key and primary identity key), and
``companion_finish`` (client -> server: a key bundle encrypted under a key derived from the
ephemeral DH, and the companion identity). The companion derives the adv secret that will
authenticate ``pair-success`` from both DH results and 32 random bytes.

All of this is sans-I/O: :class:`CompanionLinkCode` holds the state between the stages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from wamd.crypto import KeyPair, aes_ctr, aes_gcm_encrypt, hkdf_sha256
from wamd.errors import CryptoError, PairingError

__all__ = [
    "CODE_ALPHABET",
    "PBKDF2_ITERATIONS",
    "CompanionFinish",
    "CompanionLinkCode",
    "derive_code_key",
    "encode_code",
    "format_code",
    "normalize_phone",
    "unwrap_ephemeral",
    "wrap_ephemeral",
]

CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
PBKDF2_ITERATIONS = 131072
WRAPPED_LEN = 80
KEY_BUNDLE_INFO = b"link_code_pairing_key_bundle_encryption_key"
ADV_SECRET_INFO = b"adv_secret"


def encode_code(raw: bytes) -> str:
    """The 8 code characters for 5 raw bytes (base32 with the pairing alphabet, no padding)."""
    if len(raw) != 5:
        raise ValueError("a pairing code is made of 5 bytes")
    value = int.from_bytes(raw, "big")
    return "".join(CODE_ALPHABET[(value >> (35 - 5 * i)) & 31] for i in range(8))


def format_code(code: str) -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH`` (the form shown to the user)."""
    return f"{code[:4]}-{code[4:]}"


def normalize_phone(phone: str) -> str:
    """Digits of an international phone number (``+1 (555) 010-0000`` -> ``15550100000``).

    Raises :class:`PairingError` for numbers too short or starting with 0 (not international).
    """
    digits = re.sub(r"[^0-9]", "", phone)
    if len(digits) <= 6:
        raise PairingError("phone number too short: give it with the country code")
    if digits.startswith("0"):
        raise PairingError("phone number must be international (country code, no leading 0)")
    return digits


def derive_code_key(code: str, salt: bytes) -> bytes:
    """PBKDF2-SHA256(code, salt, 131072 iterations) -> 32 bytes."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=PBKDF2_ITERATIONS)
    return kdf.derive(code.encode("ascii"))


def wrap_ephemeral(code: str, public: bytes, *, salt: bytes, iv: bytes) -> bytes:
    """``salt | iv | AES-CTR(code key, iv, public)``: an ephemeral key wrapped by the code."""
    if len(salt) != 32 or len(iv) != 16 or len(public) != 32:
        raise ValueError("need a 32-byte salt, a 16-byte iv and a 32-byte public key")
    return salt + iv + aes_ctr(derive_code_key(code, salt), iv, public)


def unwrap_ephemeral(code: str, wrapped: bytes) -> bytes:
    """The 32-byte public key inside an 80-byte wrapped ephemeral (see :func:`wrap_ephemeral`)."""
    if len(wrapped) < WRAPPED_LEN:
        raise PairingError(f"wrapped ephemeral key is {len(wrapped)} bytes, expected 80")
    salt, iv, ciphertext = wrapped[:32], wrapped[32:48], wrapped[48:80]
    return aes_ctr(derive_code_key(code, salt), iv, ciphertext)


@dataclass(frozen=True, slots=True)
class CompanionFinish:
    """What the ``companion_finish`` stage sends, and the adv secret to keep."""

    wrapped_key_bundle: bytes = field(repr=False)
    adv_secret: bytes = field(repr=False)


class CompanionLinkCode:
    """The companion side of one phone-number pairing attempt.

    Create with :meth:`start`; send :attr:`wrapped_ephemeral` in ``companion_hello``; show
    :attr:`display_code`; when the primary's notification arrives, call :meth:`finish`.
    """

    __slots__ = ("_ephemeral", "code", "phone", "ref", "wrapped_ephemeral")

    def __init__(self, phone: str, code: str, ephemeral: KeyPair, wrapped_ephemeral: bytes) -> None:
        self.phone = phone
        self.code = code
        self._ephemeral = ephemeral
        self.wrapped_ephemeral = wrapped_ephemeral
        self.ref: bytes | None = None

    def __repr__(self) -> str:
        return f"CompanionLinkCode(phone={self.phone!r}, ref={'set' if self.ref else None})"

    @classmethod
    def start(cls, phone: str, *, code: str | None = None) -> CompanionLinkCode:
        """A new attempt for ``phone`` with a random code (or ``code``, for tests)."""
        digits = normalize_phone(phone)
        if code is None:
            code = encode_code(os.urandom(5))
        elif len(code) != 8 or any(c not in CODE_ALPHABET for c in code):
            raise ValueError("a pairing code is 8 characters of the pairing alphabet")
        ephemeral = KeyPair.generate()
        wrapped = wrap_ephemeral(code, ephemeral.public, salt=os.urandom(32), iv=os.urandom(16))
        return cls(digits, code, ephemeral, wrapped)

    @property
    def display_code(self) -> str:
        """The code as shown to the user, ``XXXX-XXXX``."""
        return format_code(self.code)

    def finish(
        self,
        wrapped_primary_ephemeral: bytes,
        primary_identity_public: bytes,
        identity: KeyPair,
        *,
        adv_random: bytes | None = None,
        bundle_salt: bytes | None = None,
        bundle_nonce: bytes | None = None,
    ) -> CompanionFinish:
        """Process the primary's notification: the key bundle to send and the adv secret.

        Raises :class:`PairingError` for malformed keys (a wrong code yields a key the phone
        cannot use; the mismatch surfaces when the phone rejects the bundle).
        """
        if len(primary_identity_public) != 32:
            raise PairingError("primary identity key must be 32 bytes")
        primary_ephemeral = unwrap_ephemeral(self.code, wrapped_primary_ephemeral)
        adv_random = adv_random if adv_random is not None else os.urandom(32)
        bundle_salt = bundle_salt if bundle_salt is not None else os.urandom(32)
        bundle_nonce = bundle_nonce if bundle_nonce is not None else os.urandom(12)
        try:
            ephemeral_shared = self._ephemeral.dh(primary_ephemeral)
            identity_shared = identity.dh(primary_identity_public)
        except (CryptoError, ValueError) as exc:
            raise PairingError(f"bad key from the primary device: {exc}") from exc
        bundle_key = hkdf_sha256(ephemeral_shared, 32, salt=bundle_salt, info=KEY_BUNDLE_INFO)
        bundle = identity.public + primary_identity_public + adv_random
        encrypted = aes_gcm_encrypt(bundle_key, bundle_nonce, bundle)
        adv_secret = hkdf_sha256(
            ephemeral_shared + identity_shared + adv_random, 32, info=ADV_SECRET_INFO
        )
        return CompanionFinish(bundle_salt + bundle_nonce + encrypted, adv_secret)
