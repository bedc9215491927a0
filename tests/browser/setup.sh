#!/bin/sh
# setup.sh: what the browser test needs, installed only when missing (safe
# to run every time): Debian's chromium, and playwright-core (the version
# pinned in package-lock.json) in tests/browser/node_modules.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q chromium
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    cd "$here"
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi
