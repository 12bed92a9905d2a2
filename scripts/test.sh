#!/usr/bin/env bash
# Set up .venv with the test tools and the npm test peers, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
