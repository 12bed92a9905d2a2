"""The ``w:sync:app:state`` IQ: building requests and reading answers (sans-I/O).

Fetch (one or more collections)::

    <iq xmlns="w:sync:app:state" type="set" to="s.whatsapp.net">
      <sync><collection name="regular_high" version="5" return_snapshot="false"/></sync>
    </iq>

Push one patch (``version`` is the collection version the patch was built on)::

    <sync><collection name="regular_high" version="5" return_snapshot="false">
      <patch>SyncdPatch bytes</patch></collection></sync>

Answer: ``<sync><collection name version [has_more_patches="true"]>`` holding
``<patches><patch>..</patch>...</patches>`` and, when asked for, ``<snapshot>`` with an
``ExternalBlobReference`` to the snapshot blob; or ``type="error"`` with an ``<error code>``
child (409: the patch was built on an old version; the newer patches come along).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.appstate.decode import parse_patch
from wamd.binary import AttrValue, Node
from wamd.errors import AppStateMalformed, AttributeInvalid, AttributeMissing, MalformedNode
from wamd.proto import appstate_pb2 as pb
from wamd.types import SERVER_JID

XMLNS = "w:sync:app:state"
CONFLICT = 409


@dataclass(frozen=True, slots=True)
class CollectionRequest:
    """Ask for ``name`` from ``version`` (patches after it), or for a snapshot."""

    name: str
    version: int = 0
    snapshot: bool = False


def _collection(request: CollectionRequest, patch: bytes | None = None) -> Node:
    attrs: dict[str, AttrValue] = {
        "name": request.name,
        "version": str(request.version),
        "return_snapshot": "true" if request.snapshot else "false",
    }
    content = [Node("patch", {}, patch)] if patch is not None else None
    return Node("collection", attrs, content)


def _iq(collections: list[Node]) -> Node:
    return Node(
        "iq",
        {"xmlns": XMLNS, "type": "set", "to": SERVER_JID},
        [Node("sync", {}, collections)],
    )


def fetch_request(requests: Iterable[CollectionRequest]) -> Node:
    """The IQ fetching several collections at once (the caller sets ``id``)."""
    return _iq([_collection(r) for r in requests])


def push_request(name: str, base_version: int, patch: bytes) -> Node:
    """The IQ sending one encoded patch built on ``base_version`` of ``name``."""
    return _iq([_collection(CollectionRequest(name, base_version), patch)])


@dataclass(slots=True)
class CollectionResponse:
    """One ``<collection>`` of an answer.

    ``snapshot_ref`` names the snapshot blob to download (then :func:`parse_snapshot` it);
    ``patches`` may hold patches whose ``external_mutations`` must be downloaded too.
    ``error_code``/``error_text`` are set for ``type="error"`` collections.
    """

    name: str
    version: int
    has_more: bool = False
    patches: list[pb.SyncdPatch] = field(default_factory=list)
    snapshot_ref: pb.ExternalBlobReference | None = None
    error_code: int | None = None
    error_text: str = ""


def parse_response(iq: Node) -> dict[str, CollectionResponse]:
    """Read every collection of a ``w:sync:app:state`` answer, by name.

    Raises :class:`~wamd.errors.AppStateMalformed` for a missing ``<sync>``, bad attributes or
    undecodable patches.
    """
    sync = iq.child("sync")
    if sync is None:
        raise AppStateMalformed("app state answer has no <sync>")
    try:
        return {r.name: r for r in map(_parse_collection, sync.children_by_tag("collection"))}
    except (AttributeMissing, AttributeInvalid, MalformedNode) as exc:
        raise AppStateMalformed(f"bad app state answer: {exc}") from None


def _parse_collection(node: Node) -> CollectionResponse:
    response = CollectionResponse(
        name=node.attr_str("name"),
        version=node.attr_int("version", 0),
        has_more=node.attr_bool("has_more_patches", False),
    )
    if node.attr_str("type", "") == "error":
        error = node.child("error")
        response.error_code = error.attr_int("code", 0) if error is not None else 0
        response.error_text = error.attr_str("text", "") if error is not None else ""
    container = node.child("patches") or node
    for patch_node in container.children_by_tag("patch"):
        if patch_node.content is None:
            continue
        patch = parse_patch(patch_node.content_bytes())
        response.patches.append(patch)
    snapshot = node.child("snapshot")
    if snapshot is not None and snapshot.content is not None:
        try:
            response.snapshot_ref = pb.ExternalBlobReference.FromString(snapshot.content_bytes())
        except ProtoDecodeError:
            raise AppStateMalformed("snapshot reference is not a valid protobuf") from None
    return response
