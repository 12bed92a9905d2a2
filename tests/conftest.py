"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
INTEROP = ROOT / "tests" / "interop"

# No per-example deadline (Hypothesis' default is 200 ms of wall time): on a machine shared by
# parallel workers and other jobs it measures the machine's load, not the code, and made tests
# fail as "Flaky". Tests that care about time bound it themselves.
settings.register_profile("wamd", deadline=None)
settings.load_profile("wamd")


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for Python subprocesses: this checkout's ``src`` comes first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def node_peers() -> Path:
    """Folder holding the npm test peers; fails (not skips) when they are not installed."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the interop tests need Node.js 20+")
    if not (INTEROP / "node_modules" / "baileys").is_dir():
        pytest.fail("npm peers missing: run scripts/test.sh (it runs npm ci in tests/interop)")
    return INTEROP


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first, then the ``interop`` ones (in collection order
    otherwise): under pytest-xdist (scripts/test.sh) a long test that starts last keeps the
    whole run waiting on one worker."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 item.get_closest_marker("interop") is None))
