#!/usr/bin/env bash
# Installs the Debian packages of scripts/test-packages.txt that are missing (all of them, or the
# ones named as arguments), with one apt-get call, when run as root on Debian. Where it cannot
# (not root, no apt-get, apt-get failed) it names each missing package and the suites that need
# it, and exits 1; the suites that need it then skip, by name (servers and Chromium in the
# suites themselves; a font in vitest.config.ts, which leaves out every suite that renders text).
# Usage: bash scripts/install-test-packages.sh [--list] [package…]
# Progress goes to stderr.
set -uo pipefail
list="$(dirname "${BASH_SOURCE[0]}")/test-packages.txt"
log() { printf '[test-packages] %s\n' "$*" >&2; }

declare -A needed_by=()
order=()
while read -r pkg suites; do
  case "$pkg" in '' | '#'*) continue ;; esac
  needed_by[$pkg]=$suites
  order+=("$pkg")
done <"$list"

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${order[@]}"
  exit 0
fi
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${order[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  [ -n "${needed_by[$pkg]+x}" ] || { log "$pkg is not in $list"; exit 2; }
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -gt 0 ] || exit 0

why=
if [ "$(id -u)" != 0 ]; then why="not root"
elif ! command -v apt-get >/dev/null; then why="no apt-get"
else
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    exit 0
  fi
  why="apt-get failed"
fi
for pkg in "${missing[@]}"; do
  log "!! $pkg is missing ($why: cannot install it): ${needed_by[$pkg]} will be SKIPPED"
done
exit 1
