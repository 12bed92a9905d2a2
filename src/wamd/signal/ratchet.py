"""The Double Ratchet on :class:`SessionState` values, byte-compatible with libsignal.

KDFs (all HKDF-SHA256 / HMAC-SHA256 as libsignal; in :mod:`wamd.signal.symmetric`):
- root step: HKDF(ikm=DH, salt=root key, info="WhisperRatchet") -> new root key | chain key;
- chain step: message key seed = HMAC(chain key, 0x01), next chain key = HMAC(chain key, 0x02);
- message keys: HKDF(seed, salt=32 zero bytes, info="WhisperMessageKeys", 80) ->
  AES-256 key | HMAC key | IV (16 bytes);
- MAC: HMAC-SHA256(mac key, sender identity (33) | receiver identity (33) | version | proto)[:8].

Functions here never modify the state they get; they return a new state.
"""

from __future__ import annotations

from wamd.crypto import KeyPair
from wamd.errors import CryptoError, DuplicateMessage, InvalidMessage, NoSession
from wamd.signal import symmetric, wire
from wamd.signal.state import Limits, ReceiverChain, SessionState

__all__ = ["decrypt_state", "encrypt_state"]


def encrypt_state(
    state: SessionState, local_identity_djb: bytes, plaintext: bytes
) -> tuple[SessionState, bytes]:
    """Encrypt one message on the sending chain; returns (new state, serialized SignalMessage)."""
    chain_key = state.sender_chain_key
    if chain_key is None:
        raise NoSession("the session has no sending chain yet")
    seed, next_chain_key = symmetric.active.chain_step(chain_key)
    ciphertext, mac_key = symmetric.active.seal_message(seed, plaintext)
    body = wire.build_signal_body(
        state.sender_ratchet.public, state.sender_index, state.previous_counter, ciphertext
    )
    mac = symmetric.active.message_mac(mac_key, local_identity_djb, state.remote_identity, body)
    new = state.copy()
    new.sender_chain_key = next_chain_key
    new.sender_index = state.sender_index + 1
    return new, body + mac


def decrypt_state(
    state: SessionState,
    local_identity_djb: bytes,
    message: wire.SignalMessageParts,
    limits: Limits,
) -> tuple[SessionState, bytes]:
    """Decrypt one parsed SignalMessage with ``state``; returns (new state, plaintext).

    Raises :class:`InvalidMessage` (bad MAC, undecryptable, too far ahead) or
    :class:`DuplicateMessage` (its message key was used already); ``state`` is never modified.
    """
    their_ratchet = message.ratchet_key
    counter = message.counter
    position = state.find_receiver_chain(their_ratchet)
    root = b""
    if position >= 0:
        chain = state.receiver_chains[position]
    else:
        # A new ratchet key from the peer: the receiving half of a DH ratchet step, on the side.
        try:
            root, receive_key = symmetric.active.kdf_root(
                state.root_key, state.sender_ratchet.dh(their_ratchet)
            )
        except CryptoError:
            raise InvalidMessage("bad ratchet key in message") from None
        chain = ReceiverChain(their_ratchet, receive_key, 0, {})

    skipped = chain.skipped
    if counter < chain.index:
        seed = skipped.get(counter)
        if seed is None:
            raise DuplicateMessage(f"message {counter} was already decrypted (or is too old)")
        new_skipped = dict(skipped)
        del new_skipped[counter]
        new_chain = ReceiverChain(their_ratchet, chain.chain_key, chain.index, new_skipped)
    else:
        if counter - chain.index > limits.max_skip:
            raise InvalidMessage(
                f"message {counter} is over {limits.max_skip} messages ahead of its chain"
            )
        chain_key = chain.chain_key
        if counter > chain.index:
            new_skipped = dict(skipped)
            step = symmetric.active.chain_step
            for index in range(chain.index, counter):
                new_skipped[index], chain_key = step(chain_key)
            overflow = len(new_skipped) - limits.max_skipped_per_chain
            if overflow > 0:
                for index in sorted(new_skipped)[:overflow]:
                    del new_skipped[index]
        else:
            new_skipped = skipped
        seed, chain_key = symmetric.active.chain_step(chain_key)
        new_chain = ReceiverChain(their_ratchet, chain_key, counter + 1, new_skipped)

    plaintext = symmetric.active.open_message(
        seed,
        state.remote_identity,
        local_identity_djb,
        message.signed,
        message.mac,
        message.ciphertext,
    )

    new = state.copy(same_head=position >= 0)  # no DH step: only chains and pending change
    chains = new.receiver_chains
    if position >= 0:
        chains[position] = new_chain
    else:
        # The sending half of the DH ratchet step: a fresh ratchet key and sending chain.
        new_ratchet = KeyPair.generate()
        new.root_key, new.sender_chain_key = symmetric.active.kdf_root(
            root, new_ratchet.dh(their_ratchet)
        )
        new.sender_ratchet = new_ratchet
        new.previous_counter = max(state.sender_index - 1, 0)
        new.sender_index = 0
        chains.append(new_chain)
        del chains[: max(0, len(chains) - limits.max_receiver_chains)]
    if new_skipped is not skipped and len(new_skipped) > len(skipped):
        _enforce_total_skipped(new, limits)
    new.pending = None
    return new, plaintext


def _enforce_total_skipped(state: SessionState, limits: Limits) -> None:
    """Drop the oldest stored message keys (oldest chains first) beyond the total limit."""
    chains = state.receiver_chains
    total = sum(len(c.skipped) for c in chains)
    excess = total - limits.max_skipped_total
    i = 0
    while excess > 0 and i < len(chains):
        chain = chains[i]
        if chain.skipped:
            drop = min(excess, len(chain.skipped))
            keep = dict(sorted(chain.skipped.items())[drop:])
            chains[i] = ReceiverChain(chain.ratchet_key, chain.chain_key, chain.index, keep)
            excess -= drop
        i += 1
