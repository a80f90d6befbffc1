#!/usr/bin/env bash
# Makes .cache/tritonclient-venv: a Python virtual environment with NVIDIA's Triton HTTP client
# (tritonclient[http], from PyPI) and numpy, pinned, for test/oip/tritonclient.test.ts, which
# drives inferq's /v2 endpoints with it (test/oip/triton_check.py). Idempotent: a venv whose
# pins match is kept. Exits non-zero, saying why, when it cannot be made (no python3 -m venv,
# no network); the test then skips loudly by name.
# The venv rule itself is scripts/make-venv.sh.
exec bash "$(dirname "$0")/make-venv.sh" tritonclient "tritonclient[http]==2.73.0" "numpy==2.3.5"
