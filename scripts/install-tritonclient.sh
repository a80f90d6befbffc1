#!/usr/bin/env bash
# Makes .cache/tritonclient-venv: a Python virtual environment with NVIDIA's Triton HTTP client
# (tritonclient[http], from PyPI) and numpy, pinned, for test/oip/tritonclient.test.ts, which
# drives inferq's /v2 endpoints with it (test/oip/triton_check.py). Idempotent: a venv whose
# pins match is kept. Exits non-zero, saying why, when it cannot be made (no python3 -m venv,
# no network); the test then skips loudly by name.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/tritonclient-venv
pins=("tritonclient[http]==2.73.0" "numpy==2.3.5")
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "install-tritonclient: python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
rm -rf "$venv"
if ! python3 -m venv "$venv" >&2; then
  echo "install-tritonclient: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2; then
  echo "install-tritonclient: pip could not install ${pins[*]} from PyPI" >&2
  rm -rf "$venv"
  exit 1
fi
echo "${pins[*]}" >"$stamp"
