"""Loading wamd's optional compiled modules (built by setup.py; see README).

Each C module has a pure-Python twin that is always there. A compiled module is used only
when it imports, is not disabled by ``WAMD_PURE_PYTHON=1`` in the environment, and was built
from the C source beside it: setup.py compiles the source's SHA-256 in as ``SOURCE_SHA256``,
so a build left over from an older version of the file is ignored (``scripts/setup.sh``
rebuilds it).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import ModuleType

__all__ = ["load_compiled"]


def load_compiled(name: str, source: Path) -> ModuleType | None:
    """The compiled module ``name`` (built from ``source``), or ``None`` when it is missing,
    disabled or stale."""
    if os.environ.get("WAMD_PURE_PYTHON"):
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if source.exists() and hashlib.sha256(source.read_bytes()).hexdigest() != getattr(
        module, "SOURCE_SHA256", None
    ):
        return None
    return module
