#!/usr/bin/env bash
# Creates .venv and installs wamd into it (idempotent). Usage: scripts/setup.sh [extras]
#   extras: a pyproject extra, "all" (runtime extras) or "test" (runtime + test tools + npm peers)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wamd needs Python 3.11 or newer")'
    "$py" -m venv .venv
fi
stamp=".venv/.setup-stamp-$extra"
# A symlinked .venv or node_modules belongs to another checkout (e.g. a git worktree sharing the
# main one's): installing through the link would point that checkout's editable install here,
# or `npm ci` would empty its node_modules. Leave them to their own checkout.
if [ -L .venv ]; then
    :
elif [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[$extra]"
    touch "$stamp"
fi
# The optional compiled parts (src/wamd/binary/_cdecoder.c, src/wamd/signal/_cratchet.c):
# `pip install -e` builds them in place; build them again when one is missing or was built from
# another version of its source (wamd ignores a stale build and runs the pure-Python code).
# Without a C compiler (or OpenSSL's headers, for _cratchet) this only prints a note.
if ! env -u WAMD_PURE_PYTHON PYTHONPATH=src .venv/bin/python -c \
    'import sys; from wamd.binary import decoder; from wamd.signal import symmetric
sys.exit(not (decoder.ACCELERATED and symmetric.ACCELERATED))' 2>/dev/null; then
    .venv/bin/python setup.py --quiet build_ext --inplace >/dev/null 2>&1 \
        || echo "note: compiled parts not built (no C compiler?): wamd runs them in pure Python" >&2
fi
if [ "$extra" = "test" ]; then
    lock=tests/interop/package-lock.json
    if [ -L tests/interop/node_modules ]; then
        :
    elif [ ! -d tests/interop/node_modules ] || [ "$lock" -nt tests/interop/node_modules/.package-lock.json ]; then
        (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
