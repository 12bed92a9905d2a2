"""WhatsApp's Noise transport, both roles, sans-I/O.

* :mod:`~wamd.noise.framing` — 3-byte length frames, reassembly, the intro header;
* :mod:`~wamd.noise.handshake` — the XX handshake (initiator and responder) at message level;
* :mod:`~wamd.noise.certificates` — the server certificate chain: generation and verification;
* :mod:`~wamd.noise.transport` — the post-handshake AES-GCM cipher pair;
* :mod:`~wamd.noise.connection` — a whole connection (intro + handshake + frames) per role.
"""

from wamd.noise.certificates import (
    PRODUCTION_ROOT_PUBLIC_KEY,
    CertificateDetails,
    VerifiedChain,
    generate_certificate_chain,
    verify_certificate_chain,
)
from wamd.noise.connection import (
    ConnectionState,
    FrameReceived,
    HandshakeComplete,
    NoiseClientConnection,
    NoiseEvent,
    NoiseServerConnection,
)
from wamd.noise.framing import WA_HEADER, FrameDecoder, build_intro, encode_frame
from wamd.noise.handshake import NOISE_PROTOCOL_NAME, InitiatorHandshake, ResponderHandshake
from wamd.noise.transport import NoiseTransport

__all__ = [
    "NOISE_PROTOCOL_NAME",
    "PRODUCTION_ROOT_PUBLIC_KEY",
    "WA_HEADER",
    "CertificateDetails",
    "ConnectionState",
    "FrameDecoder",
    "FrameReceived",
    "HandshakeComplete",
    "InitiatorHandshake",
    "NoiseClientConnection",
    "NoiseEvent",
    "NoiseServerConnection",
    "NoiseTransport",
    "ResponderHandshake",
    "VerifiedChain",
    "build_intro",
    "encode_frame",
    "generate_certificate_chain",
    "verify_certificate_chain",
]
