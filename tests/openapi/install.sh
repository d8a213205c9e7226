#!/bin/sh
# install.sh <this directory> <work dir>: installs the validator pinned by package-lock.json into
# <work dir>/node_modules with `npm ci` (a build-tree directory: the source tree gets no
# node_modules). Does nothing when that same lock is already installed there, so the registry
# (or npm's cache) is needed only when the lock changes.
set -eu
src=$1
work=$2
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool is missing: scripts/install-deps.sh installs it (Debian packages nodejs, npm)" >&2
        exit 1
    fi
done
echo "node $(node --version), npm $(npm --version)"
if [ -d "$work/node_modules" ] && cmp -s "$src/package-lock.json" "$work/installed-package-lock.json"; then
    echo "validator already installed in $work"
    exit 0
fi
mkdir -p "$work"
rm -f "$work/installed-package-lock.json"
cp "$src/package.json" "$src/package-lock.json" "$work/"
cd "$work"
npm ci --no-audit --no-fund
cp package-lock.json installed-package-lock.json
