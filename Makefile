# ChargePlane — `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install ChargePlane with its development tools

demo: $(STAMP) ## run the platform with emulated stations for about a minute, then print a summary
	$(BIN)/chargeplane demo

up: $(STAMP) ## run the whole platform on this machine (embedded PostgreSQL and Redis)
	$(BIN)/chargeplane up

test: $(STAMP) ## run every test (unit, integration against embedded PostgreSQL/Redis, end-to-end)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .data

.PHONY: help install demo up test lint clean
