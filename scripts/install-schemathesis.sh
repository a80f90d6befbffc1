#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer of test/api/schemathesis.e2e.test.ts) from PyPI, at
# the pinned version below, into a virtual environment at .cache/schemathesis-venv. Does nothing
# when that version is already there. Exits 1, naming why, when python3 with venv or PyPI is not
# available; the test then skips loudly by name.
# Usage: bash scripts/install-schemathesis.sh   (progress on stderr)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=4.32.5
venv=.cache/schemathesis-venv
log() { printf '[schemathesis] %s\n' "$*" >&2; }

if [ -x "$venv/bin/schemathesis" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$version" ]; then
  exit 0
fi
command -v python3 >/dev/null || { log "python3 is missing: install python3 and python3-venv"; exit 1; }
rm -rf "$venv"
mkdir -p .cache
python3 -m venv "$venv" >&2 || { log "python3 -m venv failed: install python3-venv"; exit 1; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version" >&2 ||
  { log "pip could not install schemathesis==$version (is PyPI reachable?)"; rm -rf "$venv"; exit 1; }
log "schemathesis $version installed in $venv"
