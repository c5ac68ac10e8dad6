#!/usr/bin/env bash
# Sets up .venv (idempotent) and starts the app on http://localhost:8501.
# Runs go to .optviz/runs.db in this checkout (git-ignored), not to the run history every install
# on this machine shares in ~/.cache/optviz; set OPTVIZ_DB to choose another file.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPTVIZ_DB="${OPTVIZ_DB:-$PWD/.optviz/runs.db}"
scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py "$@"
