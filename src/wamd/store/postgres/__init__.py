"""The PostgreSQL store (many processes, many accounts): see :class:`PostgresStore`.

Needs the ``postgres`` extra (``pip install wamd[postgres]``, which installs asyncpg).
"""

from __future__ import annotations

from wamd.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
