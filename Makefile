# istio-egress-e2e: `make e2e` runs the suite on kind; `make test` runs the offline suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock

ISTIO_VERSION ?=
K ?=
WORKERS ?= 0
KEEP ?=
ARGS ?=
ARTIFACTS ?= artifacts

# Debian packages the offline suite runs for real (nginx fakes, headless Chromium for the report).
DEBIAN_PACKAGES := nginx chromium curl iproute2

E2E_ARGS := -n $(WORKERS) --dist loadgroup --reuse-cluster --artifacts-dir $(ARTIFACTS)
ifneq ($(strip $(ISTIO_VERSION)),)
E2E_ARGS += --istio-version $(ISTIO_VERSION)
endif
ifneq ($(strip $(KEEP)),)
E2E_ARGS += --keep-cluster
endif
ifneq ($(strip $(K)),)
E2E_ARGS += -k '$(K)'
endif

.PHONY: help venv system-deps test lint typecheck unit e2e preflight pin render clean

help:
	@echo "make e2e    run the egress scenarios on kind (needs Docker): ISTIO_VERSION= K= WORKERS= KEEP=1 ARGS="
	@echo "make test   run the offline suite (lint, layers, types, tests)"
	@echo "make pin    write checksums of unpinned tool downloads into versions.toml"
	@echo "make clean  delete the clusters and containers this harness created"

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "egress-e2e: Python >= 3.11 is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "egress-e2e: installing pinned Python packages into $(VENV) (log: $(VENV)/pip.log)"
	@$(PIP) setuptools > $(VENV)/pip.log 2>&1 \
	  && $(PIP) --no-build-isolation -e '.[test]' >> $(VENV)/pip.log 2>&1 \
	  || { tail -n 20 $(VENV)/pip.log; echo "egress-e2e: pip install failed (full log: $(VENV)/pip.log)"; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@missing=""; for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "egress-e2e: installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "egress-e2e: the offline suite needs Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy --strict egress_e2e

unit: venv system-deps
	$(BIN)/pytest tests/ -n 2 $(ARGS)

test: lint typecheck unit

preflight: venv
	@$(BIN)/egress-e2e preflight

e2e: venv preflight
	$(BIN)/pytest scenarios/ $(E2E_ARGS) $(ARGS)

pin: venv
	$(BIN)/egress-e2e tools pin

render: venv
	@$(BIN)/egress-e2e render $(ID)

clean: venv
	$(BIN)/egress-e2e clean
