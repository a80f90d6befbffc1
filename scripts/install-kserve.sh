#!/usr/bin/env bash
# Makes .cache/kserve-venv: a Python virtual environment with KServe's own Python SDK (kserve,
# from PyPI, whose InferenceRESTClient speaks the v2 / Open Inference Protocol) and numpy,
# pinned, for test/oip/kserve.e2e.test.ts, which drives inferq's /v2 endpoints with it
# (test/oip/kserve_check.py). kserve brings the whole model-server stack with it (FastAPI,
# grpcio, the kubernetes client, pandas…): about 450 MB and a minute to install; no package of
# it is built from source on Linux x86_64 / Python 3.11. Idempotent: a venv whose pins match is
# kept. Exits non-zero, saying why, when it cannot be made (no python3 -m venv, no network); the
# test then skips loudly by name.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/kserve-venv
pins=("kserve==0.21.0" "numpy==2.4.6")
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "install-kserve: python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
rm -rf "$venv"
if ! python3 -m venv "$venv" >&2; then
  echo "install-kserve: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2; then
  echo "install-kserve: pip could not install ${pins[*]} from PyPI" >&2
  rm -rf "$venv"
  exit 1
fi
echo "${pins[*]}" >"$stamp"
