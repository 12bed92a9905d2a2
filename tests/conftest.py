"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from wamd.binary import decoder
from wamd.signal import symmetric

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
    items.sort(
        key=lambda item: (
            item.get_closest_marker("slow") is None,
            item.get_closest_marker("interop") is None,
        )
    )


def c_compiler_present() -> bool:
    """Whether this interpreter's C compiler and headers exist (so the C decoder can be built)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.exists()


def _require_compiled(built: bool, message: str) -> None:
    """Skip when a compiled part is not built, except in CI where a compiler exists: there it
    must have been built (scripts/setup.sh), so its absence fails."""
    if built:
        return
    if os.environ.get("CI") and c_compiler_present():
        pytest.fail(message)
    pytest.skip(message)


def require_compiled_decoder() -> None:
    """The compiled decoder is built (see :func:`_require_compiled`)."""
    _require_compiled(
        "c" in decoder.IMPLEMENTATIONS,
        "compiled decoder not built or stale: scripts/setup.sh builds it",
    )


def require_compiled_ratchet() -> None:
    """The compiled ratchet step (``_cratchet``) is built (see :func:`_require_compiled`)."""
    _require_compiled(
        "c" in symmetric.IMPLEMENTATIONS,
        "compiled ratchet step not built or stale: scripts/setup.sh builds it",
    )


@pytest.fixture(scope="module", params=["python", "c"])
def decoder_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs every test of a module that uses it once per decoder implementation (module
    scope, so Hypothesis tests can use it): ``decode_node`` and ``decode_frame`` go through
    the chosen one."""
    name: str = request.param
    if name != "python":
        require_compiled_decoder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoder, "_decode", decoder.IMPLEMENTATIONS[name])
        yield name


@pytest.fixture(scope="module", params=["python", "c"])
def signal_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs every test that uses it once per implementation of the ratchet's symmetric step
    (:mod:`wamd.signal.symmetric`; module scope, so Hypothesis tests can use it)."""
    name: str = request.param
    if name != "python":
        require_compiled_ratchet()
    symmetric.use(name)
    try:
        yield name
    finally:
        symmetric.use("c" if symmetric.ACCELERATED else "python")
