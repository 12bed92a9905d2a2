"""Fixtures of the store contract suite: every test runs on each backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest

from wamd.store import (
    DeviceCredentials,
    MemoryStore,
    SignedPreKey,
    Store,
    StoredKeyPair,
)

BACKENDS = ["memory"]


def key_pair() -> StoredKeyPair:
    """Random key-pair bytes (the store checks lengths only, not the curve)."""
    return StoredKeyPair(public=os.urandom(32), private=os.urandom(32))


def make_credentials(**changes: object) -> DeviceCredentials:
    """Fresh random credentials, with any field overridden."""
    fields: dict[str, object] = {
        "noise_key": key_pair(),
        "identity_key": key_pair(),
        "registration_id": int.from_bytes(os.urandom(2), "big") & 0x3FFF,
        "signed_prekey": SignedPreKey(1, key_pair(), os.urandom(64)),
        "adv_secret_key": os.urandom(32),
    }
    fields.update(changes)
    return DeviceCredentials(**fields)  # type: ignore[arg-type]


@pytest.fixture
def credentials() -> Callable[..., DeviceCredentials]:
    return make_credentials


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    backend = request.param
    if backend == "memory":
        s: Store = MemoryStore()
    else:  # pragma: no cover - filled in with the SQL backends
        raise AssertionError(backend)
    try:
        yield s
    finally:
        await s.close()
