#!/usr/bin/env bash
# Fetches real photographs for the runtime tests from Debian's python3-skimage package (its
# data/ folder: text.png, camera.png, coins.png…) into the git-ignored .cache/test-images/.
# Tests that need them skip, saying why, when the folder is missing. Uses `apt-get download`
# (no root needed) and `dpkg -x`, so nothing is installed system-wide.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/test-images"
if [[ -f "$dest/text.png" ]]; then
  echo "test images already in $dest"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt-get download runs as the unprivileged _apt user, which must be able to write here.
chmod a+rwx "$work"
cd "$work"
apt-get download python3-skimage >/dev/null
dpkg -x python3-skimage_*.deb extracted
data="$(find extracted -type d -path '*skimage/data' | head -n 1)"
if [[ -z "$data" ]]; then
  echo "python3-skimage has no skimage/data folder" >&2
  exit 1
fi
mkdir -p "$dest"
find "$data" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) -exec cp {} "$dest/" \;
echo "copied $(find "$dest" -type f | wc -l) images to $dest"
