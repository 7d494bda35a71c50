# The front door: `make help` lists what you can do.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help bootstrap run mail stack stack-stop test test-unit test-functional qa fuzz lint format migrate seed bench clean requirements

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

bootstrap: ## Create .venv and install pinned dependencies (idempotent)
	@./scripts/bootstrap.sh

run: ## Run the whole shop: API on :6543, storefront on :6544 (embedded PostgreSQL/Redis unless BOOKSTORE_*_URL set)
	@./scripts/bootstrap.sh run
	@$(VENV)/bin/bookstore run

mail: ## The mails `make run` wrote (its outbox); `make mail N=12` shows mail 12 with its text
	@$(VENV)/bin/bookstore --ini development.ini mail $(if $(N),show $(N),list)

stack: bootstrap ## Local AWS-like topology: HAProxy on :8080 over 2 API and 2 web processes
	@$(PY) scripts/stack.py start

stack-stop: ## Stop everything `make stack` started
	@$(PY) scripts/stack.py stop

test: bootstrap ## Install everything and run the whole test suite
	@# exit status 5 (no test selected, e.g. by PYTEST_ARGS=-k…) is not a failure of either part
	@$(PY) -m pytest --ignore=tests/infra $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@# the environments' provisioning runs against moto side by side (one moto server per worker)
	@$(PY) -m pytest tests/infra -n 2 --dist loadscope $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-unit: bootstrap ## Unit tests only
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-functional: bootstrap ## Functional tests (BOOKSTORE_TEST_URL=http://host:port: a suite against a deployed shop, BOOKSTORE_TEST_SUITE=api|web)
	@$(PY) -m pytest $(if $(BOOKSTORE_TEST_URL),tests/functional/$(or $(BOOKSTORE_TEST_SUITE),api),tests/functional) $(PYTEST_ARGS)

# `make qa`: both functional suites against a deployed shop, with a JUnit report. URL is the
# API's (or a load balancer's that serves both apps), WEB_URL the storefront's when it is
# elsewhere; READONLY=1 runs only what reads. Staff scenarios need BOOKSTORE_TEST_STAFF_EMAIL
# and BOOKSTORE_TEST_STAFF_PASSWORD (see tests/README.md).
URL ?= $(BOOKSTORE_TEST_URL)
WEB_URL ?= $(BOOKSTORE_TEST_WEB_URL)
READONLY ?=
QA_REPORT ?= var/qa/junit.xml
qa: bootstrap ## Functional suites against a deployed shop: make qa URL=https://… [WEB_URL=…] [READONLY=1] (JUnit in var/qa/junit.xml)
	@test -n "$(URL)" || { echo "usage: make qa URL=https://shop.example.com [WEB_URL=…] [READONLY=1]" >&2; exit 2; }
	@mkdir -p "$(dir $(QA_REPORT))"
	@BOOKSTORE_TEST_URL="$(URL)" BOOKSTORE_TEST_WEB_URL="$(WEB_URL)" \
	  BOOKSTORE_TEST_READONLY="$(if $(filter 1 yes true,$(READONLY)),1,$(BOOKSTORE_TEST_READONLY))" \
	  $(PY) -m pytest tests/functional/api tests/functional/web -p no:randomly \
	  --junitxml="$(QA_REPORT)" -o junit_suite_name=bookstore-qa $(PYTEST_ARGS)

fuzz: bootstrap ## Schemathesis over the whole spec, as staff and anonymously (also part of make test)
	@$(PY) -m pytest -s tests/functional/api/test_spec_conformance.py $(PYTEST_ARGS)

lint: bootstrap ## ruff lint and format check, the package layers (import-linter), infra linters
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache
	@if [ -x scripts/lint-infra.sh ]; then PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./scripts/lint-infra.sh; fi
	@if [ -x scripts/lint-docker.sh ]; then PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./scripts/lint-docker.sh; fi

format: bootstrap ## Apply ruff fixes and formatting
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

migrate: bootstrap ## Apply migrations to BOOKSTORE_DATABASE_URL
	@$(VENV)/bin/bookstore migrate

seed: bootstrap ## Seed BOOKS (default 100000) books into BOOKSTORE_DATABASE_URL
	@$(VENV)/bin/bookstore seed --books $${BOOKS:-100000}

bench: bootstrap ## Run the benchmarks under bench/, then Lighthouse (prints numbers, writes bench/results/)
	@$(PY) bench/run.py
	@$(PY) bench/lighthouse.py

.PHONY: lighthouse
lighthouse: bootstrap ## Lighthouse (mobile) on the storefront's main pages in Chromium: make lighthouse [LIGHTHOUSE_ARGS="--runs 5"]
	@$(PY) bench/lighthouse.py $(LIGHTHOUSE_ARGS)

.PHONY: loadtest
loadtest: bootstrap ## Shopper-mix load test through a local stack up to p99 250 ms (LOADTEST_ARGS=--quick: a smoke run)
	@$(PY) bench/shopper_mix.py $(LOADTEST_ARGS)

requirements: bootstrap ## Recompile the pinned requirements files from requirements/*.in
	@cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links --output-file ../requirements.txt app.in
	@cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links -c ../requirements.txt --output-file api.txt api.in
	@cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links -c ../requirements.txt --output-file web.txt web.in
	@cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links --output-file dev.txt dev.in
	@cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links -c ../requirements.txt -c dev.txt --output-file infra.txt infra.in

clean: ## Remove local data, caches and the virtualenv
	rm -rf var .pytest_cache .ruff_cache $(VENV)
