"""The media connection: which hosts take uploads and serve downloads, and the upload auth.

The server answers ``<iq xmlns="w:m" type="set"><media_conn/></iq>`` with
``<media_conn auth=".." ttl=".." auth_ttl=".." max_buckets=".."><host hostname=".."/>...``.
:class:`MediaConnCache` keeps the last answer and asks for a new one through an injected
async callable (the client wires it to its IQ router) once the answer is older than its TTL,
or when a host refused the auth.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wamd.binary import Node
from wamd.errors import MediaError
from wamd.types import SERVER_JID

MEDIA_CONN_XMLNS = "w:m"
"""Namespace of the media_conn IQ."""


@dataclass(frozen=True, slots=True)
class MediaHost:
    """One media host: ``hostname`` may carry a port (``"127.0.0.1:8443"``)."""

    hostname: str
    max_content_length: int | None = None


@dataclass(frozen=True, slots=True)
class MediaConn:
    """One media_conn answer. ``auth`` is a secret and stays out of ``repr``."""

    auth: str = field(repr=False)
    ttl: int
    hosts: tuple[MediaHost, ...]
    auth_ttl: int | None = None
    max_buckets: int | None = None
    fetched_at: float = field(default_factory=time.monotonic)

    @property
    def expires_at(self) -> float:
        """``time.monotonic()`` value after which this answer must be refreshed."""
        ttl = self.ttl if self.auth_ttl is None else min(self.ttl, self.auth_ttl)
        return self.fetched_at + ttl

    def is_stale(self, now: float | None = None) -> bool:
        """True when the TTL (or the auth TTL) has run out."""
        return (time.monotonic() if now is None else now) >= self.expires_at


MediaConnFetcher = Callable[[], Awaitable[MediaConn]]
"""An async callable that asks the server for a fresh :class:`MediaConn`."""


def media_conn_request() -> Node:
    """The IQ asking for a media connection (the IQ router adds the ``id``)."""
    return Node(
        "iq", {"xmlns": MEDIA_CONN_XMLNS, "type": "set", "to": SERVER_JID}, [Node("media_conn")]
    )


def _int_attr(attrs: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    raw = attrs.get(name)
    if raw is None or raw == "":
        if required:
            raise MediaError(f"media_conn lacks the {name!r} attribute")
        return None
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise MediaError(f"media_conn attribute {name!r} is not a small integer: {text[:32]!r}")
    return int(text)


def parse_media_conn(node: Node, *, now: float | None = None) -> MediaConn:
    """Read a ``<media_conn>`` node (or the ``<iq>`` answer holding it) into a :class:`MediaConn`.

    Raises :class:`~wamd.errors.MediaError` when it is malformed or lists no host.
    """
    if node.tag != "media_conn":
        found = node.child("media_conn")
        if found is None:
            raise MediaError(f"expected a media_conn node, got <{node.tag}>")
        node = found
    auth = node.attrs.get("auth")
    if not auth:
        raise MediaError("media_conn lacks the 'auth' attribute")
    ttl = _int_attr(node.attrs, "ttl", required=True)
    assert ttl is not None
    hosts: list[MediaHost] = []
    for child in node.children_by_tag("host"):
        hostname = child.attrs.get("hostname")
        if not isinstance(hostname, str) or not hostname or "/" in hostname or "@" in hostname:
            raise MediaError("media_conn host has no valid 'hostname' attribute")
        limit = _int_attr(child.attrs, "maxContentLengthBytes", required=False)
        hosts.append(MediaHost(hostname=hostname, max_content_length=limit))
    if not hosts:
        raise MediaError("media_conn lists no host")
    return MediaConn(
        auth=str(auth),
        ttl=ttl,
        hosts=tuple(hosts),
        auth_ttl=_int_attr(node.attrs, "auth_ttl", required=False),
        max_buckets=_int_attr(node.attrs, "max_buckets", required=False),
        fetched_at=time.monotonic() if now is None else now,
    )


class MediaConnCache:
    """Holds the current :class:`MediaConn`; refreshes it through ``fetch`` when stale.

    Concurrent callers share one refresh. ``extra_hosts`` are tried before the server's hosts
    (useful to pin a host, like Baileys' ``customUploadHosts``).
    """

    def __init__(self, fetch: MediaConnFetcher, *, extra_hosts: Sequence[str] = ()) -> None:
        self._fetch = fetch
        self._extra = tuple(MediaHost(h) for h in extra_hosts)
        self._current: MediaConn | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"MediaConnCache(current={self._current!r})"

    @property
    def current(self) -> MediaConn | None:
        """The last answer, stale or not (``None`` before the first fetch)."""
        return self._current

    async def get(self, *, force: bool = False, replacing: MediaConn | None = None) -> MediaConn:
        """A media connection that is not stale, fetching a new one when needed.

        ``force`` fetches a new one regardless; ``replacing=conn`` fetches a new one only if
        ``conn`` is still the current one (so callers that all saw the same auth refused
        share one refresh).
        """
        async with self._lock:
            conn = self._current
            if replacing is not None and conn is not replacing and conn is not None:
                force = False
            elif replacing is not None:
                force = True
            if force or conn is None or conn.is_stale():
                fresh = await self._fetch()
                if not isinstance(fresh, MediaConn):
                    raise MediaError("the media_conn fetcher did not return a MediaConn")
                if self._extra:
                    fresh = MediaConn(
                        auth=fresh.auth,
                        ttl=fresh.ttl,
                        hosts=self._extra + fresh.hosts,
                        auth_ttl=fresh.auth_ttl,
                        max_buckets=fresh.max_buckets,
                        fetched_at=fresh.fetched_at,
                    )
                self._current = conn = fresh
            return conn

    def invalidate(self) -> None:
        """Forget the current answer: the next :meth:`get` fetches a new one."""
        self._current = None
