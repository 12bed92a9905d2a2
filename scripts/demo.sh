#!/usr/bin/env bash
# The main job: set up .venv, then run the demo against the bundled sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
exec .venv/bin/python -m wamd demo "$@"
