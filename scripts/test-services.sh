#!/usr/bin/env bash
# Installs (scripts/install-test-packages.sh: Debian packages, as root) and starts PostgreSQL,
# Redis and RabbitMQ on 127.0.0.1 without systemd, waits until each is ready, and prints
# `export TEST_…_URL=…` lines for the test suites. Servers already answering are reused. Usage:
#   eval "$(bash scripts/test-services.sh [postgres] [redis] [rabbitmq])"
# Progress goes to stderr so that stdout stays eval-able.
set -euo pipefail
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres redis rabbitmq)
log() { printf '[test-services] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then log "not root: cannot install or start $1"; return 1; fi
}

# The packages come from scripts/test-packages.txt, the one list of what the suites need.
apt_install() { bash "$(dirname "${BASH_SOURCE[0]}")/install-test-packages.sh" "$@"; }

wait_for() { # name, attempts, command...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$name did not become ready"; return 1
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    need_root redis || return 1
    mkdir -p /tmp/inferq-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir /tmp/inferq-redis \
      --save '' --appendonly no --logfile /tmp/inferq-redis/redis.log >&2
    wait_for redis 30 redis-cli -h 127.0.0.1 -p 6379 ping || return 1
  fi
  log "redis ready on 127.0.0.1:6379"
  echo "export TEST_REDIS_URL=redis://127.0.0.1:6379"
}

start_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql || return 1; fi
  local version
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    need_root postgres || return 1
    if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
      pg_createcluster "$version" main >&2
    fi
    pg_ctlcluster "$version" main start >&2 || true
    wait_for postgres 60 pg_isready -h 127.0.0.1 -p 5432 -q || return 1
  fi
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2
  fi
  log "postgres $version ready on 127.0.0.1:5432"
  echo "export TEST_POSTGRES_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres"
}

start_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server || return 1
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    need_root rabbitmq || return 1
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    # -detached forks; the node keeps running after this script exits.
    rabbitmq-server -detached >&2 2>/dev/null || true
    wait_for rabbitmq 120 rabbitmq-diagnostics -q check_port_connectivity || return 1
  fi
  log "rabbitmq ready on 127.0.0.1:5672"
  echo "export TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672"
}

status=0
for service in "${services[@]}"; do
  case "$service" in
    redis) start_redis || status=1 ;;
    postgres) start_postgres || status=1 ;;
    rabbitmq) start_rabbitmq || status=1 ;;
    *) log "unknown service $service (known: postgres redis rabbitmq)"; status=2 ;;
  esac
done
exit $status
