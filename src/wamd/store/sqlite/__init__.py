"""The SQLite store (the embedded default): see :class:`SQLiteStore`."""

from __future__ import annotations

from wamd.store.sqlite.store import SQLiteStore, default_path

__all__ = ["SQLiteStore", "default_path"]
