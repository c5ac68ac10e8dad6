#!/usr/bin/env bash
# Sets up .venv with the test dependencies and Debian's chromium and dataset-fashion-mnist (the
# Fashion-MNIST IDX files the dataset tests load), then lints and runs every test.
# Extra arguments go to pytest (e.g. scripts/test.sh -k explorer); the fast core without Chromium
# or Ray is scripts/test.sh -m "not browser and not ray". With no arguments: every test (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
apt_missing=()
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
  || apt_missing+=(dataset-fashion-mnist)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
