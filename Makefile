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

.PHONY: help venv sysdeps lint unit check test integration demo bench clean

help:
	@echo "make demo         whole pipeline on a throwaway local PostgreSQL + local S3 endpoint"
	@echo "make test         everything CI runs: lint, unit, integration, Molecule"
	@echo "make check        fast inner loop: lint + unit tests"
	@echo "make integration  engine tests against real PostgreSQL and S3 endpoint"
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

integration: venv sysdeps
	$(BIN)/pytest -q tests/integration

test: venv sysdeps lint unit integration molecule

demo: venv sysdeps
	$(BIN)/python scripts/demo.py

bench: venv sysdeps
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo .tmp

-include mk/*.mk
