#!/usr/bin/env bash
# Sets up .venv (idempotent) and starts the app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py "$@"
