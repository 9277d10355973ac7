#!/bin/sh
# run.sh - ctest entry for the browser test of the HTML report: installs playwright-core
# from the committed lockfile when needed (npm ci) and runs report.test.mjs. Exits 77
# (ctest: skipped) only when node or chromium is missing; every other problem fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node/npm not installed (apt-get install nodejs npm)"
    exit 77
fi
if [ ! -x "$chromium" ]; then
    echo "SKIP: $chromium not installed (apt-get install chromium)"
    exit 77
fi
cd "$here" || exit 1
if [ ! -f node_modules/playwright-core/package.json ] ||
   ! grep -q '"version": "1.65.1"' node_modules/playwright-core/package.json; then
    npm ci --no-audit --no-fund || { echo "FAIL: npm ci"; exit 1; }
fi
CHROMIUM=$chromium exec node report.test.mjs
