#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer of test/api/schemathesis.e2e.test.ts) from PyPI, at
# the pinned version below, into a virtual environment at .cache/schemathesis-venv. Does nothing
# when that version is already there. Exits 1, naming why, when python3 with venv or PyPI is not
# available; the test then skips loudly by name. The venv rule itself is scripts/make-venv.sh.
# Usage: bash scripts/install-schemathesis.sh   (progress on stderr)
exec bash "$(dirname "$0")/make-venv.sh" schemathesis "schemathesis==4.32.5"
