"""Known-answer and behaviour tests for wamd.crypto."""

from __future__ import annotations

import logging
import os
import pickle

import pytest
import xeddsa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.crypto import (
    KeyPair,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_ctr,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    djb_decode,
    djb_encode,
    hkdf_sha256,
    hmac_sha256,
    hmac_sha512,
    sha256,
    verify_signature,
)
from wamd.crypto.hashes import HmacSha256
from wamd.errors import CryptoError

h = bytes.fromhex


# --- HKDF (RFC 5869, appendix A, SHA-256 cases) --------------------------------------------


@pytest.mark.parametrize(
    ("ikm", "salt", "info", "length", "okm"),
    [
        (
            h("0b" * 22),
            h("000102030405060708090a0b0c"),
            h("f0f1f2f3f4f5f6f7f8f9"),
            42,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            bytes(range(0x00, 0x50)),
            bytes(range(0x60, 0xB0)),
            bytes(range(0xB0, 0x100)),
            82,
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            h("0b" * 22),
            b"",
            b"",
            42,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
)
def test_hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int, okm: str) -> None:
    assert hkdf_sha256(ikm, length, salt=salt, info=info).hex() == okm


def test_hkdf_missing_salt_is_zero_salt() -> None:
    ikm = h("0b" * 22)
    assert hkdf_sha256(ikm, 42) == hkdf_sha256(ikm, 42, salt=bytes(32))


@settings(max_examples=60)
@given(
    ikm=st.binary(max_size=100),
    salt=st.binary(min_size=1, max_size=80),
    info=st.binary(max_size=100),
    length=st.integers(1, 300),
)
def test_hkdf_matches_cryptography(ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    expected = HKDF(hashes.SHA256(), length, salt, info).derive(ikm)
    assert hkdf_sha256(ikm, length, salt=salt, info=info) == expected


def test_hkdf_length_bounds() -> None:
    assert hkdf_sha256(b"k", 0) == b""
    assert len(hkdf_sha256(b"k", 8160)) == 8160
    with pytest.raises(ValueError, match="length"):
        hkdf_sha256(b"k", 8161)


# --- HMAC / SHA (RFC 4231 test case 2) -------------------------------------------------------


def test_hmac_rfc4231_case2() -> None:
    key, data = b"Jefe", b"what do ya want for nothing?"
    assert hmac_sha256(key, data).hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert hmac_sha512(key, data).hex() == (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )


def test_sha256_abc() -> None:
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --- AES-GCM (McGrew & Viega test cases 2, 4, 14) -------------------------------------------


@pytest.mark.parametrize(
    ("key", "iv", "plaintext", "aad", "ciphertext", "tag"),
    [
        (
            "00" * 16,
            "00" * 12,
            "00" * 16,
            "",
            "0388dace60b6a392f328c2b971b2fe78",
            "ab6e47d42cec13bdf53a67b21257bddf",
        ),
        (
            "feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888",
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "00" * 32,
            "00" * 12,
            "00" * 16,
            "",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
    ],
)
def test_aes_gcm_vectors(
    key: str, iv: str, plaintext: str, aad: str, ciphertext: str, tag: str
) -> None:
    out = aes_gcm_encrypt(h(key), h(iv), h(plaintext), h(aad))
    assert out.hex() == ciphertext + tag
    assert aes_gcm_decrypt(h(key), h(iv), out, h(aad)) == h(plaintext)


def test_aes_gcm_rejects_tampering() -> None:
    key, iv = os.urandom(32), os.urandom(12)
    data = aes_gcm_encrypt(key, iv, b"hello world", b"ad")
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 1
        with pytest.raises(CryptoError):
            aes_gcm_decrypt(key, iv, bytes(bad), b"ad")
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(key, iv, data, b"other ad")
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(key, iv, data[:10])
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(b"short", iv, data)


# --- AES-CBC / AES-CTR (NIST SP 800-38A F.2.5 and F.5.5, AES-256) -----------------------------

SP800_KEY = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
SP800_PLAIN = h(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)


def test_aes_cbc_sp800_38a() -> None:
    iv = h("000102030405060708090a0b0c0d0e0f")
    out = aes_cbc_encrypt(SP800_KEY, iv, SP800_PLAIN)
    assert out[:64].hex() == (
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
        "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
    )
    assert len(out) == 80  # a full block of PKCS#7 padding follows
    assert aes_cbc_decrypt(SP800_KEY, iv, out) == SP800_PLAIN


def test_aes_ctr_sp800_38a() -> None:
    counter = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    out = aes_ctr(SP800_KEY, counter, SP800_PLAIN)
    assert out.hex() == (
        "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"
    )
    assert aes_ctr(SP800_KEY, counter, out) == SP800_PLAIN


@settings(max_examples=50)
@given(plaintext=st.binary(max_size=70))
def test_aes_cbc_roundtrip(plaintext: bytes) -> None:
    key, iv = os.urandom(32), os.urandom(16)
    out = aes_cbc_encrypt(key, iv, plaintext)
    assert len(out) == (len(plaintext) // 16 + 1) * 16
    assert aes_cbc_decrypt(key, iv, out) == plaintext


def test_aes_cbc_bad_input() -> None:
    key, iv = os.urandom(32), os.urandom(16)
    for bad in (b"", b"x" * 15, b"x" * 17):
        with pytest.raises(CryptoError):
            aes_cbc_decrypt(key, iv, bad)
    with pytest.raises(CryptoError):
        aes_cbc_decrypt(key, b"short iv", b"x" * 16)
    with pytest.raises(CryptoError):
        aes_cbc_decrypt(key[:20], iv, b"x" * 16)
    # A block whose padding is wrong: encrypt raw blocks without padding, then decrypt.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    for last in (0, 17, 0x20):
        block = bytes(15) + bytes((last,))
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        raw = enc.update(block) + enc.finalize()
        with pytest.raises(CryptoError, match="padding"):
            aes_cbc_decrypt(key, iv, raw)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    raw = enc.update(bytes(13) + b"\x01\x03\x03") + enc.finalize()
    with pytest.raises(CryptoError, match="padding"):
        aes_cbc_decrypt(key, iv, raw)


# --- X25519 (RFC 7748) ------------------------------------------------------------------------


def test_x25519_rfc7748_function_vector() -> None:
    scalar = h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    out = KeyPair.from_private(scalar).dh(u)
    assert out.hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"


def test_x25519_rfc7748_diffie_hellman() -> None:
    alice = KeyPair.from_private(
        h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    bob = KeyPair.from_private(
        h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    )
    assert alice.public.hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert bob.public.hex() == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert alice.dh(bob.public).hex() == shared
    assert bob.dh(alice.public).hex() == shared


def test_x25519_matches_openssl_and_clamps() -> None:
    for _ in range(20):
        raw = os.urandom(32)
        ours = KeyPair.from_private(raw)
        theirs = X25519PrivateKey.from_private_bytes(raw)
        assert ours.public == theirs.public_key().public_bytes_raw()
        assert ours.private[0] & 7 == 0
        assert ours.private[31] & 0x80 == 0
        assert ours.private[31] & 0x40
        peer = KeyPair.generate()
        assert ours.dh(peer.public) == theirs.exchange(
            X25519PublicKey.from_public_bytes(peer.public)
        )
        # The top bit of a peer u-coordinate is ignored (RFC 7748, 5).
        high = peer.public[:31] + bytes((peer.public[31] | 0x80,))
        assert ours.dh(high) == ours.dh(peer.public)


def test_x25519_rejects_bad_peer_keys() -> None:
    kp = KeyPair.generate()
    with pytest.raises(CryptoError):
        kp.dh(b"\x05" + kp.public)
    with pytest.raises(CryptoError):
        kp.dh(bytes(32))  # low-order point: all-zero shared secret
    with pytest.raises(CryptoError):
        KeyPair.from_private(b"short")


def test_djb_forms() -> None:
    kp = KeyPair.generate()
    assert djb_encode(kp.public) == b"\x05" + kp.public
    assert djb_decode(djb_encode(kp.public)) == kp.public
    for bad in (kp.public, b"\x06" + kp.public, b"\x05" + kp.public + b"\x00"):
        with pytest.raises(CryptoError):
            djb_decode(bad)


# --- XEdDSA -----------------------------------------------------------------------------------


def test_xeddsa_bit_exact_with_libxeddsa() -> None:
    """With the same nonce, our signatures equal the reference C implementation's."""
    for i in range(40):
        kp = KeyPair.generate()
        message, nonce = os.urandom(i * 3), os.urandom(64)
        ours = kp._xeddsa_sign(message, nonce)
        forced = xeddsa.priv_force_sign(kp.private, False)
        assert ours == xeddsa.ed25519_priv_sign(forced, message, nonce)
        assert ours[63] & 0x80 == 0
        assert xeddsa.ed25519_verify(
            ours, xeddsa.curve25519_pub_to_ed25519_pub(kp.public, False), message
        )


def test_xeddsa_sign_verify_and_rejections() -> None:
    kp = KeyPair.generate()
    message = djb_encode(KeyPair.generate().public)
    sig = kp.sign(message)
    assert len(sig) == 64
    assert verify_signature(kp.public, message, sig)
    assert kp.sign(message) != sig  # randomized
    assert not verify_signature(kp.public, message + b"x", sig)
    assert not verify_signature(KeyPair.generate().public, message, sig)
    for i in range(64):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not verify_signature(kp.public, message, bytes(bad))
    assert not verify_signature(kp.public, message, sig[:63])
    assert not verify_signature(kp.public[:31], message, sig)
    flipped = sig[:63] + bytes((sig[63] ^ 0x80,))
    assert not verify_signature(kp.public, message, flipped)
    assert not verify_signature(b"\xec" + b"\xff" * 30 + b"\x7f", message, sig)  # u = p - 1


def test_verify_accepts_sign_bit_in_signature() -> None:
    """libsignal-node (curve25519-js) signs with the clamped key as is and puts the Edwards sign
    bit in sig[63]; build such a signature with libxeddsa's raw signer and check it verifies."""
    seen_set_bit = False
    for _ in range(16):
        kp = KeyPair.generate()
        message = os.urandom(33)
        raw = xeddsa.ed25519_priv_sign(kp.private, message, os.urandom(64))
        edwards = xeddsa.priv_to_ed25519_pub(kp.private)
        sign_bit = edwards[31] & 0x80
        seen_set_bit |= bool(sign_bit)
        legacy = raw[:63] + bytes((raw[63] | sign_bit,))
        assert verify_signature(kp.public, message, legacy)
    assert seen_set_bit


def test_no_key_material_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    kp = KeyPair.generate()
    text = repr(kp) + str(kp)
    assert kp.public.hex() in text
    for form in (kp.private.hex(), repr(kp.private), kp.private.hex().upper()):
        assert form not in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("wamd").debug("key pair %s %r", kp, kp)
        kp.sign(b"m")
        kp.dh(KeyPair.generate().public)
    assert kp.private.hex() not in caplog.text
    assert repr(kp.private) not in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(kp)


def test_keypair_equality() -> None:
    kp = KeyPair.generate()
    assert kp == KeyPair.from_private(kp.private)
    assert kp != KeyPair.generate()
    assert hash(kp) == hash(KeyPair.from_private(kp.private))


@settings(max_examples=200)
@given(key=st.binary(max_size=200), data=st.binary(max_size=300))
def test_hmac_sha256_matches_stdlib(key: bytes, data: bytes) -> None:
    import hmac

    expected = hmac.digest(key, data, "sha256")
    assert hmac_sha256(key, data) == expected
    keyed = HmacSha256(key)
    assert keyed.digest(data) == expected
    assert keyed.digest(data) == expected  # the kept states are not consumed
    assert keyed.digests(data, key) == (expected, hmac.digest(key, key, "sha256"))
    assert keyed.digest(data) == expected
    # The repr reveals nothing of the key: it is the same for every key.
    assert repr(keyed) == repr(HmacSha256(b"another key"))


def test_hmac_sha256_long_and_short_inputs() -> None:
    """Short inputs use CPython's own SHA-256, long ones OpenSSL's: both are HMAC-SHA256."""
    import hashlib
    import hmac

    from wamd.crypto import hashes as hashes_module

    for size in (0, 1, 55, 56, 64, 1023, 1024, 1025, 100_000):
        data = os.urandom(size)
        for key in (b"", os.urandom(32), os.urandom(100)):
            assert hmac_sha256(key, data) == hmac.digest(key, data, "sha256")
        assert hashes_module._short_sha256(data).digest() == hashlib.sha256(data).digest()


@settings(max_examples=100)
@given(
    prk=st.binary(min_size=1, max_size=100),
    info=st.binary(max_size=40),
    length=st.integers(min_value=0, max_value=300),
)
def test_hmac_expand_is_hkdf_expand(prk: bytes, info: bytes, length: int) -> None:
    """HmacSha256.expand is RFC 5869's HKDF-Expand (checked against cryptography's)."""
    expected = HKDFExpand(hashes.SHA256(), length, info).derive(prk) if length else b""
    keyed = HmacSha256(prk)
    assert keyed.expand(info, length) == expected
    assert keyed.expand(info, length) == expected  # the kept states are not consumed


def test_hmac_expand_length_bounds() -> None:
    keyed = HmacSha256(bytes(32))
    assert len(keyed.expand(b"", 8160)) == 8160
    for length in (-1, 8161):
        with pytest.raises(ValueError, match="output length"):
            keyed.expand(b"", length)
