#!/usr/bin/env bash
# Install the Debian packages the project needs, when missing (idempotent).
#   chromium          - browser tests (Playwright drives Debian's Chromium)
#   haproxy           - the local load balancer of `make stack`
#   docker-compose    - validating docker/compose.yml (no Docker engine needed)
#   wrk               - HTTP load generator of the benchmarks (make bench)
#   nodejs, npm       - Lighthouse (make lighthouse; npm ci into tools/lighthouse)
set -euo pipefail
PACKAGES=(chromium haproxy docker-compose wrk nodejs)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# npm: Debian's package, unless the installed Node.js brings its own (NodeSource's does)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; install these yourself: ${missing[*]}" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
