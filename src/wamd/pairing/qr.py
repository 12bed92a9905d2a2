"""QR pairing: the text a phone scans, the rotation schedule, and a terminal renderer."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import segno

from wamd.errors import PairingError
from wamd.events import QR

__all__ = [
    "FIRST_QR_TIMEOUT",
    "NEXT_QR_TIMEOUT",
    "QR_URL_PREFIX",
    "qr_events",
    "qr_text",
    "render_terminal",
]

QR_URL_PREFIX = "https://wa.me/settings/linked_devices#"
FIRST_QR_TIMEOUT = 60.0
"""Seconds the first QR code of a pairing session stays valid."""
NEXT_QR_TIMEOUT = 20.0
"""Seconds each later QR code stays valid."""


def qr_text(
    ref: bytes | str,
    noise_public: bytes,
    identity_public: bytes,
    adv_secret: bytes,
    client_type: str,
) -> str:
    """The QR content for one pair-device ``ref``.

    ``https://wa.me/settings/linked_devices#<ref>,<b64 noise pub>,<b64 identity pub>,
    <b64 adv secret>,<client type>`` (standard base64 with padding).
    """
    if isinstance(ref, bytes):
        try:
            ref = ref.decode("ascii")
        except UnicodeDecodeError:
            raise PairingError("pair-device ref is not ASCII") from None
    if not ref or "," in ref:
        raise PairingError("pair-device ref is empty or contains a comma")
    if len(noise_public) != 32 or len(identity_public) != 32 or len(adv_secret) != 32:
        raise ValueError("noise and identity public keys and the adv secret are 32 bytes")
    parts = [
        ref,
        base64.b64encode(noise_public).decode(),
        base64.b64encode(identity_public).decode(),
        base64.b64encode(adv_secret).decode(),
        client_type,
    ]
    return QR_URL_PREFIX + ",".join(parts)


def qr_events(
    texts: Sequence[str],
    *,
    first_timeout: float = FIRST_QR_TIMEOUT,
    next_timeout: float = NEXT_QR_TIMEOUT,
) -> list[QR]:
    """The :class:`~wamd.events.QR` events for the QR texts of one pair-device request, in order."""
    count = len(texts)
    return [
        QR(text, first_timeout if i == 0 else next_timeout, index=i, remaining=count - i - 1)
        for i, text in enumerate(texts)
    ]


def render_terminal(text: str, *, compact: bool = True, border: int = 2) -> str:
    """Draw ``text`` as a QR code with block characters for a terminal.

    ``compact`` packs two rows in one line with half blocks (fits an 80x24 terminal); without
    it, segno uses ANSI colours. Use a dark-on-light or light-on-dark terminal; both scan.
    """
    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=compact, border=border)
    return out.getvalue()
