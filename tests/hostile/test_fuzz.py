"""Mutation fuzzing: well-formed stanzas (:mod:`tests.hostile.seeds`) with attributes
dropped or replaced by junk, contents replaced, children dropped or duplicated, bytes cut.

1. Every reader of server data (stanza parsers, IQ answer parsers) raises nothing but a
   :class:`~wamd.errors.WamdError` on them (sans-I/O, many examples).
2. A logged-in client fed mutated stanzas by its server survives them all: no untyped
   exception reaches a catch-all, no reconnect, and a good message is still delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.harness import Duo, duo, next_id
from tests.hostile.mutate import mutated
from tests.hostile.seeds import seeds
from wamd.appstate import protocol as appstate_protocol
from wamd.appstate.server import collections_changed
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import WamdError
from wamd.groups import events as group_events
from wamd.groups import stanzas as group_stanzas
from wamd.media import conn as media_conn
from wamd.media import retry as media_retry
from wamd.messaging import devices, presence, stanzas
from wamd.types import JID
from wamd.users import queries

SEEDS = seeds()
OWN = [JID("15550100001", "s.whatsapp.net", device=1), JID("9", "lid", device=1)]

READERS: dict[str, Callable[[Node], Any]] = {
    "envelope": lambda n: stanzas.parse_envelope(n, OWN),
    "receipt": lambda n: stanzas.parse_receipt(n, OWN),
    "retry request": stanzas.parse_retry_request,
    "prekey bundles": stanzas.parse_prekey_bundles,
    "prekey count": stanzas.parse_prekey_count,
    "device lists": devices.parse_devices_answer,
    "presence": presence.parse_presence,
    "chatstate": presence.parse_chatstate,
    "group notification": group_events.parse_group_notification,
    "picture notification": group_events.parse_picture_notification,
    "group answer": group_stanzas.parse_group_answer,
    "groups": group_stanzas.parse_groups,
    "participant results": lambda n: group_stanzas.parse_participant_results(n, "add"),
    "invite code": group_stanzas.parse_invite_code,
    "join": group_stanzas.parse_join,
    "join requests": group_stanzas.parse_join_requests,
    "subgroups": group_stanzas.parse_subgroups,
    "community participants": group_stanzas.parse_community_participants,
    "picture id": group_stanzas.parse_picture_id,
    "media conn": media_conn.parse_media_conn,
    "media retry notification": media_retry.parse_retry_notification,
    "media retry receipt": lambda n: media_retry.parse_retry_receipt(n, b"\x01" * 32),
    "app state answer": appstate_protocol.parse_response,
    "server_sync names": collections_changed,
    "is on whatsapp": queries.parse_is_on_whatsapp,
    "user info": queries.parse_user_info,
    "profile picture": queries.parse_profile_picture,
    "business profile": queries.parse_business_profile,
    "blocklist": queries.parse_blocklist,
    "privacy": queries.parse_privacy,
}


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(SEEDS))
def test_readers_raise_only_typed_errors(node: Node) -> None:
    wire = decode_node(encode_node(node))  # what actually arrives
    for name, read in READERS.items():
        for candidate in (node, wire):
            try:
                read(candidate)
            except WamdError:
                pass
            except Exception as exc:  # pragma: no cover - the failure being tested for
                raise AssertionError(f"{name} raised {exc!r} on {candidate!r}") from exc


# --- the same against a live client --------------------------------------------------------

LIVE_SEEDS = [n for n in SEEDS if n.tag not in ("stream:error", "failure", "xmlstreamend")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def d() -> AsyncIterator[Duo]:
    async with duo() as pair_of_clients:
        yield pair_of_clients


@pytest.mark.asyncio(loop_scope="module")
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(mutated(LIVE_SEEDS), min_size=1, max_size=8))
async def test_a_client_survives_mutated_stanzas(d: Duo, batch: list[Node]) -> None:
    d.problems.clear()
    for node in batch:
        if node.tag != "iq" and "id" in node.attrs:
            node.attrs["id"] = next_id()  # not a copy of what the client already saw
    await d.inject(*batch)
    await d.survived(label=repr(batch)[:2000])
    assert d.victim.is_connected
