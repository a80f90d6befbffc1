#!/usr/bin/env bash
# The test command of README.md: static checks, then every suite. It first installs the Debian
# packages of scripts/test-packages.txt that are missing (fonts, Chromium, the servers) where it
# can (root with apt-get), and names each one it cannot. Suites that need PostgreSQL,
# Redis or RabbitMQ read TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_AMQP_URL; when they are unset
# this script starts the servers itself where it can (root on Debian), and otherwise the suites
# are skipped loudly, by name.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-artifacts

echo "== typecheck, lint, layers"
npm run -s typecheck || exit 1
npm run -s lint || exit 1

echo "== Debian packages the suites need (scripts/test-packages.txt)"
bash scripts/install-test-packages.sh || echo "!! some packages the suites need are missing: see above"

if [ -z "${TEST_POSTGRES_URL:-}${TEST_REDIS_URL:-}${TEST_AMQP_URL:-}" ] && [ "${INFERQ_TEST_NO_SERVICES:-}" != 1 ]; then
  echo "== starting test services (PostgreSQL, Redis, RabbitMQ)"
  exports=$(bash scripts/test-services.sh postgres redis rabbitmq) || echo "!! some test services could not be started"
  eval "$exports"
fi
for pair in "PostgreSQL:TEST_POSTGRES_URL" "Redis:TEST_REDIS_URL" "RabbitMQ:TEST_AMQP_URL"; do
  name=${pair%%:*} var=${pair##*:}
  if [ -z "${!var:-}" ]; then
    echo "!! $var is not set: the $name suites will be SKIPPED"
  else
    echo "== $name at ${!var}"
  fi
done

if [ ! -d .cache/test-images ]; then
  echo "== fetching test photos (python3-skimage)"
  bash scripts/fetch-test-images.sh || echo "!! test photos unavailable: the photo tests will be SKIPPED"
fi

echo "== tritonclient venv (scripts/install-tritonclient.sh: tritonclient[http] from PyPI)"
bash scripts/install-tritonclient.sh || echo "!! tritonclient venv unavailable: the tritonclient suite will be SKIPPED"
echo "== kserve venv (scripts/install-kserve.sh: KServe's own v2 client, kserve from PyPI)"
bash scripts/install-kserve.sh || echo "!! kserve venv unavailable: the kserve suite will be SKIPPED"
echo "== schemathesis (PyPI) for the API fuzzing suite"
bash scripts/install-schemathesis.sh || echo "!! schemathesis unavailable: the schemathesis suite will be SKIPPED"

echo "== vitest"
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-artifacts/vitest.json "$@"
code=$?
node scripts/print-test-summary.mjs .test-artifacts/vitest.json || code=1
exit $code
