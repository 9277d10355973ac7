#!/usr/bin/env bash
# deps.sh - installs the Debian packages a target needs, and nothing when they are there.
# Usage: scripts/deps.sh demo|test|bench
set -euo pipefail
what=${1:-test}
base="gcc make cmake pkg-config libc6-dev"
libs="libcurl4-openssl-dev zlib1g-dev libmicrohttpd-dev libjansson-dev libuv1-dev libsqlite3-dev libyaml-dev python3-dev"
case "$what" in
  demo)  want="$base $libs nginx nginx-dev" ;;
  bench) want="$base" ;;
  test)  want="$base $libs nginx nginx-dev python3-venv python3-aiohttp libcmocka-dev clang libclang-rt-14-dev nodejs npm chromium valgrind cppcheck clang-tidy clang-format openssl" ;;
  *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian's packages: accept them when on PATH.
if [ ${#missing[@]} -gt 0 ]; then
  keep=()
  for p in "${missing[@]}"; do
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    keep+=("$p")
  done
  missing=("${keep[@]+"${keep[@]}"}")
fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
