"""Serialization of :class:`DeviceCredentials` for the SQL backends (JSON, bytes as base64).

One versioned document per account, so fields can be added without a schema migration;
unknown fields written by a newer wamd are ignored, missing optional ones take defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from wamd.errors import StoreError
from wamd.store.types import DeviceCredentials, SignedPreKey, StoredKeyPair

__all__ = ["decode_credentials", "encode_credentials"]

_FORMAT = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pair(pair: StoredKeyPair) -> dict[str, str]:
    return {"public": _b64(pair.public), "private": _b64(pair.private)}


def encode_credentials(c: DeviceCredentials) -> bytes:
    """The credentials as a JSON document."""
    doc: dict[str, Any] = {
        "format": _FORMAT,
        "noise_key": _pair(c.noise_key),
        "identity_key": _pair(c.identity_key),
        "registration_id": c.registration_id,
        "signed_prekey": {
            "key_id": c.signed_prekey.key_id,
            "key_pair": _pair(c.signed_prekey.key_pair),
            "signature": _b64(c.signed_prekey.signature),
        },
        "adv_secret_key": _b64(c.adv_secret_key),
        "jid": c.jid,
        "lid": c.lid,
        "account": None if c.account is None else _b64(c.account),
        "push_name": c.push_name,
        "platform": c.platform,
        "business_name": c.business_name,
        "routing_info": None if c.routing_info is None else _b64(c.routing_info),
        "extra": {k: _b64(v) for k, v in c.extra.items()},
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode_credentials(data: bytes) -> DeviceCredentials:
    """Read credentials written by :func:`encode_credentials`; :class:`StoreError` if malformed."""
    try:
        doc = json.loads(data)
        if doc.get("format") != _FORMAT:
            raise StoreError(f"unsupported credentials format {doc.get('format')!r}")

        def raw(value: str) -> bytes:
            return base64.b64decode(value, validate=True)

        def opt(value: str | None) -> bytes | None:
            return None if value is None else raw(value)

        def pair(d: dict[str, str]) -> StoredKeyPair:
            return StoredKeyPair(public=raw(d["public"]), private=raw(d["private"]))

        spk = doc["signed_prekey"]
        return DeviceCredentials(
            noise_key=pair(doc["noise_key"]),
            identity_key=pair(doc["identity_key"]),
            registration_id=int(doc["registration_id"]),
            signed_prekey=SignedPreKey(
                int(spk["key_id"]), pair(spk["key_pair"]), raw(spk["signature"])
            ),
            adv_secret_key=raw(doc["adv_secret_key"]),
            jid=doc.get("jid"),
            lid=doc.get("lid"),
            account=opt(doc.get("account")),
            push_name=doc.get("push_name", ""),
            platform=doc.get("platform", ""),
            business_name=doc.get("business_name", ""),
            routing_info=opt(doc.get("routing_info")),
            extra={k: raw(v) for k, v in doc.get("extra", {}).items()},
        )
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise StoreError(f"stored credentials are malformed: {type(exc).__name__}") from None
