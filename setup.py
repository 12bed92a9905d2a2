"""Build hook for the optional compiled parts (everything else is in pyproject.toml).

* ``wamd.binary._cdecoder``: the C twin of ``wamd/binary/decoder.py``'s loop;
* ``wamd.signal._cratchet``: the C twin of the Signal ratchet's per-message symmetric step
  (``wamd/signal/symmetric.py``), on OpenSSL's libcrypto (needs its headers to build).

Each is built whenever a C compiler and the headers it needs are present (``pip install -e .``
builds them in place); when a build fails, installation goes on and wamd uses the pure-Python
code instead. The SHA-256 of each C source is compiled in, so the Python side can refuse a
module built from an older version of the file (it then falls back to Python, and
``scripts/setup.sh`` rebuilds it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from setuptools import Extension, setup


def optional_extension(
    name: str, source: str, macro: str, libraries: list[str] | None = None
) -> Extension:
    """An extension whose build failure is only a warning, with its source's SHA-256 in
    ``macro``."""
    digest = hashlib.sha256((Path(__file__).parent / source).read_bytes()).hexdigest()
    return Extension(
        name,
        [source],
        define_macros=[(macro, f'"{digest}"')],
        libraries=libraries or [],
        optional=True,  # no compiler or headers: a warning, and the pure-Python code
    )


setup(
    ext_modules=[
        optional_extension(
            "wamd.binary._cdecoder", "src/wamd/binary/_cdecoder.c", "WAMD_CDECODER_SOURCE_SHA256"
        ),
        optional_extension(
            "wamd.signal._cratchet",
            "src/wamd/signal/_cratchet.c",
            "WAMD_CRATCHET_SOURCE_SHA256",
            libraries=["crypto"],
        ),
    ]
)
