"""The compiled ratchet step (``_cratchet.c``): known answers for its primitives, and the same
results and errors as the pure-Python reference (``wamd.signal.symmetric``) on random, tampered
and hostile input.

Every test of test_signal*.py and the 1:1 interop tests already run on both implementations
(the ``signal_impl`` fixture); here they are compared side by side.
"""

from __future__ import annotations

import hmac
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.conftest import require_compiled_ratchet, subprocess_env
from wamd._compiled import load_compiled
from wamd.crypto.hashes import hkdf_sha256
from wamd.errors import InvalidMessage
from wamd.signal import symmetric

_cratchet: Any = sys.modules.get("wamd.signal._cratchet")  # imported by symmetric when built


@pytest.fixture(autouse=True, scope="module")
def _compiled() -> None:
    require_compiled_ratchet()


C = "c"
PY = "python"
UNDECRYPTABLE = "ciphertext does not decrypt"

# --- known answers -----------------------------------------------------------------------------

# RFC 4231 test cases 1-4, 6, 7 (case 5 is a truncated output, checked on its prefix below)
RFC4231 = [
    (
        bytes([0x0B]) * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        bytes([0xAA]) * 20,
        bytes([0xDD]) * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(1, 26)),
        bytes([0xCD]) * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        bytes([0xAA]) * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        bytes([0xAA]) * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231)
def test_hmac_sha256_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    assert _cratchet.hmac_sha256(key, data).hex() == expected
    assert hmac.digest(key, data, "sha256").hex() == expected


def test_hmac_sha256_rfc4231_truncated() -> None:
    digest = _cratchet.hmac_sha256(bytes([0x0C]) * 20, b"Test With Truncation")
    assert digest[:16].hex() == "a3b6167473100ee06e0c796c2955552b"


# RFC 5869 appendix A.1-A.3 (SHA-256)
RFC5869 = [
    (
        bytes([0x0B]) * 22,
        bytes(range(13)),
        bytes(range(0xF0, 0xFA)),
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes([0x0B]) * 22,
        b"",
        b"",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "expected"), RFC5869)
def test_hkdf_sha256_rfc5869(
    ikm: bytes, salt: bytes, info: bytes, length: int, expected: str
) -> None:
    assert _cratchet.hkdf_sha256(ikm, salt, info, length).hex() == expected
    assert hkdf_sha256(ikm, length, salt=salt or None, info=info).hex() == expected


def test_hkdf_sha256_lengths() -> None:
    rng = random.Random(1)
    for length in (0, 1, 31, 32, 33, 80, 8160):
        ikm, salt, info = rng.randbytes(rng.randrange(100)), rng.randbytes(70), rng.randbytes(9)
        expected = hkdf_sha256(ikm, length, salt=salt, info=info)
        assert _cratchet.hkdf_sha256(ikm, salt, info, length) == expected
    for bad in (-1, 8161, 2**63):
        with pytest.raises((ValueError, OverflowError)):
            _cratchet.hkdf_sha256(b"", b"", b"", bad)
    with pytest.raises(TypeError):
        _cratchet.hkdf_sha256(b"", b"", b"", "42")


# NIST SP 800-38A F.2.5 / F.2.6 (CBC-AES256)
NIST_KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
NIST_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
NIST_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
NIST_CIPHER = bytes.fromhex(
    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
    "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
)


def _raw_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CBC without padding (``cryptography``), to build ciphertexts with chosen padding."""
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def test_aes_256_cbc_nist() -> None:
    assert _raw_cbc(NIST_KEY, NIST_IV, NIST_PLAIN) == NIST_CIPHER
    sealed = _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, NIST_PLAIN, True)
    # whole blocks: the NIST ciphertext, then one block of padding (16 x 0x10)
    assert sealed[:64] == NIST_CIPHER
    assert sealed[64:] == _raw_cbc(NIST_KEY, NIST_CIPHER[-16:], bytes([16]) * 16)
    assert _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, sealed, False) == NIST_PLAIN
    for size in range(len(NIST_PLAIN) + 1):
        sealed = _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, NIST_PLAIN[:size], True)
        assert sealed[: size - size % 16] == NIST_CIPHER[: size - size % 16]
        assert _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, sealed, False) == NIST_PLAIN[:size]


def test_aes_256_cbc_rejects_bad_sizes() -> None:
    for key, iv in ((NIST_KEY[:16], NIST_IV), (NIST_KEY, NIST_IV[:15]), (b"", b"")):
        with pytest.raises(ValueError, match="32-byte key"):
            _cratchet.aes_256_cbc(key, iv, b"", True)
    for size in (0, 1, 15, 17, 63):
        with pytest.raises(InvalidMessage, match=UNDECRYPTABLE):
            _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, NIST_CIPHER[:size], False)
    with pytest.raises(InvalidMessage, match=UNDECRYPTABLE):  # the NIST plaintext's last byte
        _cratchet.aes_256_cbc(NIST_KEY, NIST_IV, NIST_CIPHER, False)


# --- the compiled step against the Python one ---------------------------------------------------


def outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except InvalidMessage as exc:
        return ("InvalidMessage", str(exc))


def same_open(*args: bytes) -> object:
    python = outcome(lambda: symmetric.IMPLEMENTATIONS[PY].open_message(*args))
    assert outcome(lambda: symmetric.IMPLEMENTATIONS[C].open_message(*args)) == python
    return python


def _mac(seed: bytes, remote: bytes, local: bytes, signed: bytes) -> bytes:
    mac_key = symmetric.derive_message_keys(seed)[1]
    return hmac.digest(mac_key, b"\x05" + remote + local + signed, "sha256")[:8]


def test_default_is_the_compiled_step() -> None:
    assert symmetric.ACCELERATED
    assert symmetric.active.open_message is _cratchet.open_message
    assert symmetric.active.chain_step is _cratchet.chain_step


def test_same_chain_steps_keys_and_macs() -> None:
    rng = random.Random(3)
    c, py = symmetric.IMPLEMENTATIONS[C], symmetric.IMPLEMENTATIONS[PY]
    for _ in range(500):
        key = rng.randbytes(rng.choice((0, 1, 31, 32, 33, 64, 65, 200)))
        assert c.chain_step(key) == py.chain_step(key)
        plaintext = rng.randbytes(rng.randrange(70))
        assert c.seal_message(key, plaintext) == py.seal_message(key, plaintext)
        mac_key, local, remote = rng.randbytes(32), rng.randbytes(33), rng.randbytes(32)
        body = rng.randbytes(rng.randrange(200))
        assert c.message_mac(mac_key, local, remote, body) == py.message_mac(
            mac_key, local, remote, body
        )


def test_same_root_steps() -> None:
    rng = random.Random(4)
    c, py = symmetric.IMPLEMENTATIONS[C], symmetric.IMPLEMENTATIONS[PY]
    for _ in range(300):
        root, dh = rng.randbytes(rng.choice((32, 32, 0, 7, 70))), rng.randbytes(32)
        assert c.kdf_root(root, dh) == py.kdf_root(root, dh)
        assert b"".join(c.kdf_root(root, dh)) == hkdf_sha256(
            dh, 64, salt=root, info=b"WhisperRatchet"
        )


def test_same_sender_key_messages() -> None:
    rng = random.Random(6)
    c, py = symmetric.IMPLEMENTATIONS[C], symmetric.IMPLEMENTATIONS[PY]
    outcomes = set()
    for _ in range(1000):
        seed, plaintext = (
            rng.randbytes(rng.choice((32, 32, 1, 90))),
            rng.randbytes(rng.randrange(90)),
        )
        ciphertext = c.seal_group(seed, plaintext)
        assert ciphertext == py.seal_group(seed, plaintext)
        if rng.random() < 0.5:  # tampered: truncated, extended or one bit flipped
            at = rng.randrange(len(ciphertext))
            ciphertext = rng.choice(
                (
                    ciphertext[:at],
                    ciphertext + rng.randbytes(rng.randrange(1, 17)),
                    ciphertext[:at] + bytes([ciphertext[at] ^ 0x80]) + ciphertext[at + 1 :],
                )
            )
        result = outcome(lambda: py.open_group(seed, ciphertext))  # noqa: B023
        assert outcome(lambda: c.open_group(seed, ciphertext)) == result  # noqa: B023
        outcomes.add(result if isinstance(result, tuple) else "ok")
    assert outcomes == {"ok", ("InvalidMessage", "group ciphertext does not decrypt")}


def test_same_plaintext_or_error_when_opening() -> None:
    rng = random.Random(5)
    kinds: dict[object, int] = {}
    for _ in range(1500):
        seed = rng.randbytes(rng.choice((32, 32, 32, 0, 5, 100)))
        remote, local = rng.randbytes(32), rng.randbytes(33)
        plaintext = rng.randbytes(rng.randrange(100))
        ciphertext, _ = symmetric.IMPLEMENTATIONS[PY].seal_message(seed, plaintext)
        signed = b"\x33" + rng.randbytes(rng.randrange(60)) + ciphertext
        mac = _mac(seed, remote, local, signed)
        tamper = rng.randrange(7)
        if tamper == 1:  # a wrong MAC
            mac = bytes([mac[0] ^ 1 << rng.randrange(8)]) + mac[1:]
        elif tamper == 2:  # a MAC of another length
            mac = mac + rng.randbytes(rng.randrange(3)) if rng.random() < 0.5 else mac[:-1]
        elif tamper == 3:  # truncated or extended ciphertext
            ciphertext = ciphertext[: rng.randrange(len(ciphertext))] + rng.randbytes(
                rng.randrange(3) * 8
            )
        elif tamper == 4:  # a flipped ciphertext bit: usually bad padding
            at = rng.randrange(len(ciphertext))
            ciphertext = (
                ciphertext[:at]
                + bytes([ciphertext[at] ^ 1 << rng.randrange(8)])
                + ciphertext[at + 1 :]
            )
        elif tamper == 5:  # a signed part that is not the one the MAC covers
            signed = signed[:-1]
        result = same_open(seed, remote, local, signed, mac, ciphertext)
        if tamper == 0:
            assert result == plaintext
        key = result if isinstance(result, tuple) else "ok"
        kinds[key] = kinds.get(key, 0) + 1
    assert set(kinds) == {"ok", ("InvalidMessage", "bad MAC"), ("InvalidMessage", UNDECRYPTABLE)}


@pytest.mark.parametrize(
    "last_block",
    [
        bytes(16),  # pad byte 0
        bytes(15) + b"\x11",  # 17 > the block size
        bytes(15) + b"\xff",
        bytes(13) + b"\x02\x03\x03",  # 3 bytes of padding, one of them wrong
        bytes([16]) * 15 + b"\x0f",  # 15, where one of the 15 is 16
        bytes([5]) * 15 + b"\x10",  # 16, where 15 of them are 5
        bytes(15) + b"\x01",  # valid: 1 byte of padding
        bytes([16]) * 16,  # valid: a whole block of padding
    ],
)
def test_same_outcome_for_chosen_padding(last_block: bytes) -> None:
    rng = random.Random(last_block)
    seed, remote, local = rng.randbytes(32), rng.randbytes(32), rng.randbytes(33)
    cipher_key, _, iv = symmetric.derive_message_keys(seed)
    for prefix in (b"", rng.randbytes(32)):
        ciphertext = _raw_cbc(cipher_key, iv, prefix + last_block)
        signed = b"\x33" + ciphertext
        result = same_open(
            seed, remote, local, signed, _mac(seed, remote, local, signed), ciphertext
        )
        valid = last_block in (bytes(15) + b"\x01", bytes([16]) * 16)
        assert result == (
            (prefix + last_block)[: -last_block[-1]] if valid else ("InvalidMessage", UNDECRYPTABLE)
        )


def test_buffers_other_than_bytes() -> None:
    rng = random.Random(9)
    seed, remote, local = rng.randbytes(32), rng.randbytes(32), rng.randbytes(33)
    ciphertext, _ = _cratchet.seal_message(seed, b"hello")
    signed = b"\x33" + ciphertext
    mac = _mac(seed, remote, local, signed)
    args = (seed, remote, local, signed, mac, ciphertext)
    assert _cratchet.open_message(*map(bytearray, args)) == b"hello"
    assert _cratchet.open_message(*map(memoryview, args)) == b"hello"
    assert _cratchet.chain_step(memoryview(seed)) == _cratchet.chain_step(seed)


def test_large_input() -> None:
    seed = bytes(32)
    plaintext = random.Random(2).randbytes(3 << 20)
    ciphertext, mac_key = _cratchet.seal_message(seed, plaintext)
    assert (ciphertext, mac_key) == symmetric.IMPLEMENTATIONS[PY].seal_message(seed, plaintext)
    remote, local = bytes(32), bytes(33)
    mac = _mac(seed, remote, local, ciphertext)
    assert same_open(seed, remote, local, ciphertext, mac, ciphertext) == plaintext


HOSTILE: list[object] = [None, "text", 42, 1.5, [b"x"], memoryview(b"abcdef")[::2]]


def test_hostile_arguments_raise() -> None:
    good = (bytes(32), bytes(32), bytes(33), b"x", bytes(8), bytes(16))
    for bad in HOSTILE:
        for at in range(len(good)):
            args = [*good[:at], bad, *good[at + 1 :]]
            with pytest.raises((TypeError, BufferError)):
                _cratchet.open_message(*args)
        with pytest.raises((TypeError, BufferError)):
            _cratchet.chain_step(bad)
        with pytest.raises((TypeError, BufferError)):
            _cratchet.seal_message(bytes(32), bad)
        with pytest.raises((TypeError, BufferError)):
            _cratchet.message_mac(bytes(32), bytes(33), bytes(32), bad)
        with pytest.raises((TypeError, BufferError)):
            _cratchet.hmac_sha256(bad, b"")
        with pytest.raises((TypeError, BufferError)):
            _cratchet.kdf_root(bytes(32), bad)
        with pytest.raises((TypeError, BufferError)):
            _cratchet.open_group(bad, bytes(16))
        with pytest.raises((TypeError, BufferError)):
            _cratchet.seal_group(bytes(32), bad)
    for count in (0, 1, 5, 7):
        with pytest.raises(TypeError, match="exactly 6 arguments"):
            _cratchet.open_message(*good[:count], *[b""] * max(0, count - 6))
    with pytest.raises(TypeError):
        _cratchet.seal_message(bytes(32))
    with pytest.raises(ValueError, match="32-byte MAC key"):
        _cratchet.message_mac(bytes(31), b"", b"", b"")
    with pytest.raises(TypeError):
        _cratchet.setup(42)
    with pytest.raises(TypeError):
        _cratchet.setup(str)


# --- loading -------------------------------------------------------------------------------------


def test_a_stale_build_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(symmetric.__file__).with_name("_cratchet.c")
    assert load_compiled("wamd.signal._cratchet", source) is _cratchet
    monkeypatch.setattr(_cratchet, "SOURCE_SHA256", "0" * 64)
    assert load_compiled("wamd.signal._cratchet", source) is None


def test_pure_python_can_be_forced() -> None:
    code = (
        "from wamd.signal import symmetric as s; "
        "print(s.ACCELERATED, list(s.IMPLEMENTATIONS), s.active.open_message.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(WAMD_PURE_PYTHON="1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.split() == ["False", "['python']", "wamd.signal.symmetric"]
