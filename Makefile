# ChargePlane — `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

SOURCES := $(shell find cli common services emulator bench -name '*.py' -o -name '*.sql' 2>/dev/null)

# A strict editable install (a link tree under build/) shows the package-dir mapping to
# every tool, import-linter included; it is refreshed whenever a source file changes.
$(STAMP): pyproject.toml $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	rm -rf build/__editable__*
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

install: $(STAMP) ## create .venv and install ChargePlane with its development tools

demo: $(STAMP) ## run the platform with emulated stations for about a minute, then print a summary
	$(BIN)/chargeplane demo

up: $(STAMP) ## run the whole platform on this machine (embedded PostgreSQL and Redis)
	$(BIN)/chargeplane up

test: $(STAMP) ## run every test (unit, integration against embedded PostgreSQL/Redis, end-to-end)
	$(BIN)/pytest

bench: $(STAMP) ## measure the gateway against echo and peer (about 10 minutes); writes bench/results/
	$(BIN)/chargeplane-bench --out bench/results

lint: $(STAMP) ## ruff, and the import contracts that keep the services apart
	$(BIN)/ruff check .
	cd /tmp && $(CURDIR)/$(BIN)/lint-imports $(CURDIR)/pyproject.toml

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .data build

.PHONY: help install demo up test bench lint clean
