"""Types of the optional compiled decoder (``_cdecoder.c``)."""

from wamd.binary.node import Node
from wamd.types.jid import JID

SOURCE_SHA256: str

def setup(
    node_type: type[Node],
    jid_type: type[JID],
    decode_error: type[Exception],
    single_tokens: tuple[str, ...],
    double_tokens: tuple[tuple[str, ...], ...],
    server_of_domain: dict[int, str],
    user_server: str,
    messenger_server: str,
    interop_server: str,
    /,
) -> None: ...
def decode(data: bytes, max_depth: int, /) -> Node: ...
