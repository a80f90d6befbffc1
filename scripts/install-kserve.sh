#!/usr/bin/env bash
# Makes .cache/kserve-venv: a Python virtual environment with KServe's own Python SDK (kserve,
# from PyPI, whose InferenceRESTClient speaks the v2 / Open Inference Protocol) and numpy,
# pinned, for test/oip/kserve.e2e.test.ts, which drives inferq's /v2 endpoints with it
# (test/oip/kserve_check.py). kserve brings the whole model-server stack with it (FastAPI,
# grpcio, the kubernetes client, pandas…): about 450 MB and a minute to install; no package of
# it is built from source on Linux x86_64 / Python 3.11. Idempotent: a venv whose pins match is
# kept. Exits non-zero, saying why, when it cannot be made (no python3 -m venv, no network); the
# test then skips loudly by name.
# The venv rule itself is scripts/make-venv.sh.
exec bash "$(dirname "$0")/make-venv.sh" kserve "kserve==0.21.0" "numpy==2.4.6"
