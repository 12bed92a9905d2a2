"""Poll votes: building, decrypting and tallying them (sans-I/O).

A vote is a ``pollUpdateMessage`` naming the poll by its message key and carrying an
encrypted ``PollVoteMessage`` (the SHA-256 hashes of the chosen option names), keyed from the
poll's message secret (:mod:`wamd.messaging.secrets`, use case ``"Poll Vote"``). A voter's
newer vote replaces the older one; an empty selection withdraws the vote.
:class:`PollTally` keeps the latest vote of each voter and counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.crypto import sha256
from wamd.errors import InvalidMessage
from wamd.events import Event
from wamd.messaging.builders import message_key
from wamd.messaging.secrets import (
    SecretUse,
    SecretValue,
    decrypt_with_candidates,
    encrypt_secret,
)
from wamd.proto import e2e_pb2
from wamd.types import JID

if TYPE_CHECKING:
    from wamd.binary import Node

__all__ = [
    "PollTally",
    "PollVote",
    "decrypt_vote",
    "option_hash",
    "poll_creation",
    "poll_options",
    "vote",
]

_CREATIONS = ("poll_creation_message", "poll_creation_message_v2", "poll_creation_message_v3")
MAX_SELECTED = 256


def option_hash(name: str) -> bytes:
    """The 32-byte hash a vote names an option by: SHA-256 of its UTF-8 name."""
    return sha256(name.encode())


def poll_creation(message: e2e_pb2.Message) -> e2e_pb2.PollCreationMessage | None:
    """The poll a message creates (any version; inside ``DeviceSentMessage`` too)."""
    if message.HasField("device_sent_message") and message.device_sent_message.HasField("message"):
        return poll_creation(message.device_sent_message.message)
    for name in _CREATIONS:
        if message.HasField(name):
            creation: e2e_pb2.PollCreationMessage = getattr(message, name)
            return creation
    return None


def poll_options(message: e2e_pb2.Message) -> list[str]:
    """The option names of the poll a message creates (empty when it creates none)."""
    creation = poll_creation(message)
    return [] if creation is None else [o.option_name for o in creation.options]


def vote(
    *,
    chat: JID | str,
    poll_id: str,
    poll_sender: JID,
    poll_from_me: bool,
    selected: Sequence[str],
    secret: bytes,
    voter: JID,
    timestamp_ms: int,
) -> e2e_pb2.Message:
    """The ``pollUpdateMessage`` by which ``voter`` chooses ``selected`` (option names; empty
    withdraws the vote) in the poll ``poll_id`` that ``poll_sender`` sent in ``chat``.

    ``voter`` must be in the same addressing as ``poll_sender`` (both phone numbers or both
    LIDs), as WhatsApp's clients derive the key with them.
    """
    choice = e2e_pb2.PollVoteMessage(selected_options=[option_hash(o) for o in selected])
    value = encrypt_secret(
        secret,
        SecretUse.POLL_VOTE,
        choice.SerializeToString(),
        message_id=poll_id,
        original_sender=poll_sender,
        modifier=voter,
    )
    message = e2e_pb2.Message()
    update = message.poll_update_message
    update.poll_creation_message_key.CopyFrom(
        message_key(chat, poll_id, from_me=poll_from_me, sender=poll_sender)
    )
    update.vote.enc_payload = value.payload
    update.vote.enc_iv = value.iv
    update.sender_timestamp_ms = timestamp_ms
    return message


def decrypt_vote(
    update: e2e_pb2.PollUpdateMessage,
    secret: bytes,
    *,
    poll_senders: Sequence[JID | None],
    voters: Sequence[JID | None],
) -> list[bytes]:
    """The option hashes a vote selects. ``poll_senders`` and ``voters`` are the forms
    (phone number, LID) the poll's sender and the voter may have been keyed with.

    Raises :class:`~wamd.errors.InvalidMessage` when the vote does not decrypt or is not a
    ``PollVoteMessage``.
    """
    if not update.HasField("vote") or not update.HasField("poll_creation_message_key"):
        raise InvalidMessage("poll update without a vote or a poll key")
    plaintext = decrypt_with_candidates(
        secret,
        SecretUse.POLL_VOTE,
        SecretValue(update.vote.enc_payload, update.vote.enc_iv),
        message_id=update.poll_creation_message_key.id,
        original_senders=poll_senders,
        modifiers=voters,
    )
    choice = e2e_pb2.PollVoteMessage()
    try:
        choice.ParseFromString(plaintext)
    except ProtobufDecodeError as exc:
        raise InvalidMessage(f"poll vote is not a PollVoteMessage: {exc}") from exc
    if len(choice.selected_options) > MAX_SELECTED:
        raise InvalidMessage("poll vote selects too many options")
    return list(choice.selected_options)


@dataclass(frozen=True, slots=True)
class PollVote(Event):
    """A vote (or a changed vote) in a poll, decrypted.

    Attributes:
        chat: the conversation of the poll.
        voter: who voted (a device JID, as the vote message's sender).
        poll_id: the id of the poll message.
        poll_sender: who sent the poll (without a device).
        selected_hashes: SHA-256 hashes of the options chosen (empty: the vote was withdrawn).
        selected: the names of those options when the poll was seen by this client (in the
            same order; empty when unknown: match :func:`option_hash` of the names yourself).
        timestamp: when the vote was sent.
        message_id: the id of the vote message itself.
        from_me: the vote came from our own account (another of our devices).
    """

    chat: JID
    voter: JID
    poll_id: str
    poll_sender: JID
    selected_hashes: tuple[bytes, ...]
    selected: tuple[str, ...]
    timestamp: datetime
    message_id: str
    from_me: bool = False
    raw: Node | None = field(default=None, repr=False, compare=False)


class PollTally:
    """The current result of one poll: the latest vote of each voter, counted per option.

    ``PollTally.of(poll_message)`` starts from the poll; feed it votes with :meth:`add` (or
    :meth:`add_vote` with a :class:`PollVote`). A vote replaces the voter's earlier one
    unless it is older (by the sender's timestamp); an empty vote withdraws it. Voters are
    counted by user (their devices share one vote).
    """

    __slots__ = ("_by_hash", "_options", "_votes")

    def __init__(self, options: Sequence[str]) -> None:
        self._options = list(options)
        self._by_hash = {option_hash(o): o for o in self._options}
        self._votes: dict[str, tuple[int, tuple[bytes, ...]]] = {}

    @classmethod
    def of(cls, poll_message: e2e_pb2.Message) -> PollTally:
        """A tally of the poll ``poll_message`` creates. Raises :class:`ValueError` when it
        creates none."""
        if poll_creation(poll_message) is None:
            raise ValueError("this message creates no poll")
        return cls(poll_options(poll_message))

    @property
    def options(self) -> list[str]:
        """The option names, in the poll's order."""
        return list(self._options)

    def add(self, voter: JID | str, selected_hashes: Iterable[bytes], timestamp_ms: int) -> bool:
        """Record ``voter``'s vote; returns False (and ignores it) when a newer vote of theirs
        was recorded already. Hashes of options the poll does not have are dropped."""
        jid = voter if isinstance(voter, JID) else JID.parse(voter)
        who = str(jid.to_non_ad())
        previous = self._votes.get(who)
        if previous is not None and previous[0] > timestamp_ms:
            return False
        chosen = tuple(dict.fromkeys(h for h in selected_hashes if h in self._by_hash))
        self._votes[who] = (timestamp_ms, chosen)
        return True

    def add_vote(self, poll_vote: PollVote) -> bool:
        """Record a :class:`PollVote` event (see :meth:`add`)."""
        return self.add(
            poll_vote.voter,
            poll_vote.selected_hashes,
            int(poll_vote.timestamp.timestamp() * 1000),
        )

    def voters(self, option: str) -> list[str]:
        """The users (JID strings without device) whose current vote includes ``option``."""
        wanted = option_hash(option)
        return [who for who, (_, chosen) in self._votes.items() if wanted in chosen]

    def results(self) -> dict[str, list[str]]:
        """Each option name with the users currently choosing it, in the poll's order."""
        return {option: self.voters(option) for option in self._options}

    def counts(self) -> dict[str, int]:
        """Each option name with its number of votes."""
        return {option: len(voters) for option, voters in self.results().items()}

    def choice_of(self, voter: JID | str) -> list[str]:
        """The option names ``voter`` currently chooses (empty: no vote)."""
        jid = voter if isinstance(voter, JID) else JID.parse(voter)
        entry = self._votes.get(str(jid.to_non_ad()))
        return [] if entry is None else [self._by_hash[h] for h in entry[1]]

    def __repr__(self) -> str:
        return f"PollTally({self.counts()!r})"
