#!/usr/bin/env bash
# Set up .venv with the test tools and the npm test peers, then run the whole test suite.
# The suite waits more than it computes (Node and sandbox start-ups, network round trips), so it
# runs in WAMD_TEST_WORKERS pytest-xdist workers (default 4, also on 2 cores); 0 runs it in this
# process. Arguments go to pytest and come after ours: `-n 2`, `-n 0`, a path, `-k ...` all work.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Every worker and every Python subprocess of the tests imports wamd and (workers) rewrites the
# test modules: with bytecode caching off, each of them compiles it all again (~7 s of CPU each).
unset PYTHONDONTWRITEBYTECODE
# Long tests first (tests/conftest.py orders them); small chunks so they spread over the workers.
exec .venv/bin/python -m pytest -n "${WAMD_TEST_WORKERS:-4}" --maxschedchunk 2 "$@"
