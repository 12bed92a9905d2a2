"""Fixtures of the sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wamd.sandbox import Sandbox


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """A running sandbox with its state in a temporary folder."""
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running
