"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
INTEROP = ROOT / "tests" / "interop"


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
