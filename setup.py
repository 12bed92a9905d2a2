"""Build hook for the optional compiled decoder (everything else is in pyproject.toml).

``wamd.binary._cdecoder`` is the C twin of ``wamd/binary/decoder.py``'s loop. It is built
whenever a C compiler and the Python headers are present (``pip install -e .`` builds it in
place); when the build fails, installation goes on and wamd uses the pure-Python decoder.
The SHA-256 of the C source is compiled in, so ``wamd.binary.decoder`` can refuse a module
built from an older version of the file (it then falls back to Python, and
``scripts/setup.sh`` rebuilds it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "src/wamd/binary/_cdecoder.c"
digest = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(
    ext_modules=[
        Extension(
            "wamd.binary._cdecoder",
            [SOURCE],
            define_macros=[("WAMD_CDECODER_SOURCE_SHA256", f'"{digest}"')],
            optional=True,  # no compiler or headers: a warning, and the Python decoder
        )
    ]
)
