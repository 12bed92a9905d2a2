"""Schema migrations: numbered ``.sql`` files per backend plus a latest-schema fast path.

Each backend package has a ``migrations/`` folder holding ``NNNN_name.sql`` (version ``NNNN``
upgrades from ``NNNN - 1``) and ``latest.sql``, whose ``-- version: N`` header names the
version it creates in one step. A new database gets ``latest.sql``; an older one gets the
numbered files after its version, one transaction each; a newer one raises
:class:`~wamd.errors.SchemaTooNew`. The version lives in the table ``wamd_version``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from wamd.errors import SchemaTooNew, StoreError

__all__ = ["Migration", "Migrations", "load_migrations"]

_NUMBERED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_HEADER = re.compile(r"^-- version: (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    """One step: the SQL that brings a database to ``version``."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class Migrations:
    """The numbered steps of a backend and its latest schema."""

    steps: tuple[Migration, ...]
    latest: Migration

    def plan(self, current: int, target: int | None = None) -> list[Migration]:
        """The steps that bring a database at ``current`` (0 = empty) to ``target``
        (default: the latest version). An empty database gets the latest schema in one step
        unless an older ``target`` is asked for (tests build old databases that way)."""
        target = self.latest.version if target is None else target
        if current > self.latest.version:
            raise SchemaTooNew(
                f"the database has schema version {current}; this wamd knows up to "
                f"{self.latest.version}: upgrade wamd"
            )
        if current == 0 and target == self.latest.version:
            return [self.latest]
        return [m for m in self.steps if current < m.version <= target]


def load_migrations(package: str) -> Migrations:
    """Read ``package``'s ``migrations`` folder and check that the steps are contiguous."""
    folder = resources.files(package).joinpath("migrations")
    steps = []
    latest_sql = None
    for entry in folder.iterdir():
        if entry.name == "latest.sql":
            latest_sql = entry.read_text(encoding="utf-8")
            continue
        match = _NUMBERED.match(entry.name)
        if match:
            steps.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    steps.sort(key=lambda m: m.version)
    if [m.version for m in steps] != list(range(1, len(steps) + 1)):
        raise StoreError(f"{package}: migrations are not numbered 1..n")
    if latest_sql is None:
        raise StoreError(f"{package}: migrations/latest.sql is missing")
    header = _HEADER.search(latest_sql)
    if header is None or int(header[1]) != len(steps):
        raise StoreError(f"{package}: latest.sql must declare '-- version: {len(steps)}'")
    return Migrations(tuple(steps), Migration(len(steps), "latest.sql", latest_sql))
