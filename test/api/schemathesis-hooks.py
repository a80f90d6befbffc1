"""Schemathesis hooks of test/api/schemathesis.e2e.test.ts (loaded with SCHEMATHESIS_HOOKS=<this file>).

Adds the check `error_body_shape`: every error answer (status 400 and above) is the documented
`{ "error": { "code", "message", "details"? } }` with a code that docs/errors.md lists.
"""

import json
import os
import re
from pathlib import Path

import schemathesis

_doc = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
DOCUMENTED = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(INFERQ_[A-Z0-9_]+)` \| (\d{3}) \|", _doc.read_text(), re.M)}


@schemathesis.check
def error_body_shape(ctx, response, case):
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error body is not JSON: {response.content[:200]!r}")
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        raise AssertionError(f"error body is not {{ error: {{ code, message }} }}: {body!r}"[:400])
    error = body["error"]
    extra = set(error) - {"code", "message", "details"}
    if extra or not isinstance(error.get("message"), str) or not error.get("message"):
        raise AssertionError(f"error object has keys {sorted(error)}: {error!r}"[:400])
    code = error.get("code")
    if code not in DOCUMENTED:
        raise AssertionError(f"error code {code!r} is not listed in docs/errors.md")
    # A code keeps its documented status (InferqError may override it only on purpose).
    if DOCUMENTED[code] != response.status_code and code not in {"INFERQ_REMOTE_MODEL_FAILED"}:
        raise AssertionError(f"{code} answered {response.status_code}; docs/errors.md says {DOCUMENTED[code]}")
    return None


# Counts every answer by status for the test to print (INFERQ_ST_COUNTS names the file).
_counts: dict[str, int] = {}


@schemathesis.hook
def after_call(ctx, case, response):
    key = str(response.status_code)
    _counts[key] = _counts.get(key, 0) + 1
    out = os.environ.get("INFERQ_ST_COUNTS")
    if out:
        Path(out).write_text(json.dumps(_counts))
