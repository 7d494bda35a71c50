#!/usr/bin/env bash
# Static checks of the images, the compose stack, the load balancer configuration
# and the CI/CD workflows. No Docker engine is needed:
#   hadolint           docker/*.Dockerfile
#   docker-compose     config -q on docker/compose.yml (Debian's docker-compose)
#   haproxy -c         docker/haproxy.cfg with the compose and the `make stack` settings
#   actionlint         .github/workflows/*.yml (with shellcheck on every run: step)
#   check-jsonschema   .github/workflows/*.yml against the GitHub workflow schema
#   the shell scripts of this check and of the pipelines, with shellcheck
# Tools come from PATH (the Makefile puts .venv/bin first), else from .venv/bin.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -d .venv/bin ]]; then
  PATH="$PATH:$PWD/.venv/bin"
fi
PATH="$PATH:/usr/sbin:/usr/local/sbin"  # haproxy lives in sbin

status=0
run() {
  local name=$1
  shift
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "FAIL $name: $1 is not installed (make bootstrap installs it)"
    status=1
    return
  fi
  if out=$("$@" 2>&1); then
    echo "ok   $name"
  else
    echo "FAIL $name"
    echo "$out"
    status=1
  fi
}

workflows=(.github/workflows/*.yml)

run "hadolint docker/api.Dockerfile docker/web.Dockerfile" \
  hadolint --failure-threshold style docker/api.Dockerfile docker/web.Dockerfile
run "docker-compose config docker/compose.yml" docker-compose -f docker/compose.yml config -q
run "haproxy -c docker/haproxy.cfg (compose settings)" env \
  BOOKSTORE_LB_BIND=:8080 BOOKSTORE_LB_API1=api1:8000 BOOKSTORE_LB_API2=api2:8000 \
  BOOKSTORE_LB_WEB1=web1:8000 BOOKSTORE_LB_WEB2=web2:8000 BOOKSTORE_LB_STATS_BIND=:8404 \
  BOOKSTORE_LB_DNS=127.0.0.11:53 haproxy -c -q -f docker/haproxy.cfg
run "haproxy -c docker/haproxy.cfg (make stack settings)" env \
  BOOKSTORE_LB_BIND=127.0.0.1:8080 BOOKSTORE_LB_API1=127.0.0.11:8001 BOOKSTORE_LB_API2=127.0.0.12:8001 \
  BOOKSTORE_LB_WEB1=127.0.0.21:8002 BOOKSTORE_LB_WEB2=127.0.0.22:8002 \
  BOOKSTORE_LB_STATS_SOCKET=/nonexistent/haproxy.sock haproxy -c -q -f docker/haproxy.cfg
run "actionlint ${workflows[*]}" actionlint "${workflows[@]}"
run "check-jsonschema vendor.github-workflows ${workflows[*]}" \
  check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
run "shellcheck scripts/lint-docker.sh .github/scripts/*.sh" \
  shellcheck scripts/lint-docker.sh .github/scripts/*.sh

exit "$status"
