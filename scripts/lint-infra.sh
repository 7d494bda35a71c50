#!/usr/bin/env bash
# Static checks of the Ansible code: yamllint, ansible-lint (production profile,
# offline, using the collections bundled with the pinned ansible package) and
# ansible-playbook --syntax-check on every playbook of every inventory.
# Tools are taken from the directory of the running Python's venv when
# BOOKSTORE_VENV_BIN is unset and .venv/bin exists, else from PATH.
set -euo pipefail

cd "$(dirname "$0")/.."
bin="${BOOKSTORE_VENV_BIN:-}"
if [[ -z "$bin" && -x .venv/bin/ansible-playbook ]]; then
  bin=.venv/bin
fi
tool() { if [[ -n "$bin" ]]; then echo "$bin/$1"; else echo "$1"; fi; }

# Never let a syntax check or lint touch a real account.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export ANSIBLE_NOCOLOR=1

status=0

echo "== yamllint"
"$(tool yamllint)" --strict requirements.yml .ansible-lint .yamllint inventories roles playbooks || status=1

echo "== ansible-lint (production profile, offline)"
"$(tool ansible-lint)" --offline --profile production --nocolor inventories roles playbooks || status=1

echo "== ansible-playbook --syntax-check"
for inventory in inventories/*/; do
  if ! out=$("$(tool ansible-playbook)" --syntax-check -i "${inventory}hosts.yml" playbooks/*.yml 2>&1); then
    echo "FAIL ${inventory}"
    echo "$out"
    status=1
  else
    echo "ok   ${inventory}: $(echo playbooks/*.yml)"
  fi
done

exit "$status"
