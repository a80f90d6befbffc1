#!/usr/bin/env bash
# Makes .cache/NAME-venv: a Python virtual environment with the pinned PyPI packages given, for
# the suites that drive inferq with a real Python tool or client. The one rule behind
# install-tritonclient.sh, install-kserve.sh and install-schemathesis.sh. Idempotent: a venv
# whose pins match (its .pins stamp) is kept. Exits non-zero, saying why, when it cannot be made
# (no python3 -m venv, no network); the suite then skips loudly by name.
# Usage: bash scripts/make-venv.sh NAME PIN...   (progress on stderr)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name=$1
shift
venv=.cache/$name-venv
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$*" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "install-$name: python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
rm -rf "$venv"
mkdir -p .cache
if ! python3 -m venv "$venv" >&2; then
  echo "install-$name: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2; then
  echo "install-$name: pip could not install $* from PyPI" >&2
  rm -rf "$venv"
  exit 1
fi
echo "$*" >"$stamp"
echo "install-$name: $* installed in $venv" >&2
