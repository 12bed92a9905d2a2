"""The delivery receipt built from precomputed bytes is byte-identical to the generic encoder's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.binary import Node, encode_frame
from wamd.errors import EncodeError
from wamd.messaging.stanzas import Envelope, delivery_receipt, delivery_receipt_payload
from wamd.types import JID

from ..unit.test_binary_properties import _STRINGS, _VALUES, jids

_MAYBE = st.one_of(st.none(), _VALUES)


def _envelope(message_id: str, from_me: bool, category: str) -> Envelope:
    sender = JID("15550000001", "s.whatsapp.net")
    return Envelope(message_id, sender, sender, from_me, 0, (), category=category)


@settings(max_examples=400, deadline=None)
@given(
    message_id=_STRINGS,
    sender=st.one_of(st.none(), jids(), _STRINGS),
    recipient=_MAYBE,
    participant=_MAYBE,
    extra=st.dictionaries(st.sampled_from(["t", "type", "notify", "offline"]), _STRINGS),
    from_me=st.booleans(),
    category=st.sampled_from(["", "peer", "other"]),
    active=st.booleans(),
)
def test_payload_matches_the_generic_encoder(
    message_id: str,
    sender: JID | str | None,
    recipient: JID | str | None,
    participant: JID | str | None,
    extra: dict[str, str],
    from_me: bool,
    category: str,
    active: bool,
) -> None:
    attrs: dict[str, JID | str] = dict(extra)
    for name, value in (("from", sender), ("recipient", recipient), ("participant", participant)):
        if value is not None:
            attrs[name] = value
    node = Node("message", attrs)
    env = _envelope(message_id, from_me, category)
    generic = encode_frame(delivery_receipt(node, env, active=active))
    assert delivery_receipt_payload(node, env, active=active) == generic


@pytest.mark.parametrize("name", ["from", "recipient", "participant"])
def test_unencodable_values_fail_like_the_generic_encoder(name: str) -> None:
    node = Node("message", {name: 12})  # type: ignore[dict-item]
    env = _envelope("ABC", False, "")
    with pytest.raises(EncodeError):
        encode_frame(delivery_receipt(node, env, active=True))
    with pytest.raises(EncodeError):
        delivery_receipt_payload(node, env, active=True)
