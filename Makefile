# checkniner-backup: one command each for the newcomer (`make demo`, `make test`).
# `make test` installs and starts everything it needs on a fresh Debian machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv sysdeps lint unit check test integration app-django32 demo bench clean

help:
	@echo "make demo         whole pipeline on a throwaway local PostgreSQL + local S3 endpoint"
	@echo "make test         everything CI runs: lint, unit, integration, Molecule"
	@echo "make check        fast inner loop: lint + unit tests"
	@echo "make integration  engine tests against real PostgreSQL and S3 endpoint (the sample app on Django 5.2 and 3.2)"
	@echo "make bench        side-by-side benchmarks (writes benchmarks/RESULTS.md)"

# System packages: PostgreSQL server/client, GnuPG, and (for Molecule) podman, runc, debootstrap.
sysdeps:
	@scripts/install-sysdeps.sh

$(STAMP): requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e .
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q

unit: venv
	$(BIN)/pytest -q tests/unit

check: lint unit

# The sample project's second interpreter: Django 3.2 LTS, as the original application pins it (cached in .tmp,
# rebuilt when tests/support/requirements-django32.txt changes).
app-django32: venv
	$(BIN)/python tests/support/app_django.py 3.2 >/dev/null

# Everything under Django 5.2, then the tests marked app_django32 again under 3.2; both run whatever the first gives.
integration: venv sysdeps app-django32
	rc=0; \
	$(BIN)/pytest -q tests/integration || rc=$$?; \
	$(BIN)/pytest -q tests/integration --app-django=3.2 || rc=$$?; \
	exit $$rc

test: venv sysdeps lint unit integration molecule

demo: venv sysdeps
	$(BIN)/python scripts/demo.py

bench: venv sysdeps
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo .tmp

-include mk/*.mk
