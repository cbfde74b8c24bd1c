# Two set-up commands matter: `make dev` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# Registries are reached through a re-signing proxy on some machines: trust the system bundle when present.
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
endif
PYTEST_ARGS ?=

.PHONY: dev test venv lint fmt unit integration operator-test e2e k8s-tools bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

venv: $(VENV)/.synced

BACKENDS ?= embedded
dev: venv ## run the platform: embedded default (PostgreSQL + NATS from wheels); BACKENDS=production adds Cassandra, OpenSearch, MinIO
	$(BIN)/gochat dev --backends $(BACKENDS)

lint: venv ## ruff, mypy and the import-layer contracts
	$(BIN)/ruff check apps operator tests bench
	$(BIN)/ruff format --check apps operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format apps operator tests bench
	$(BIN)/ruff check --fix apps operator tests bench

k8s-tools: venv ## build (once, cached by version) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm
	$(BIN)/python -m tests.k8s.tools ensure

# GOCHAT_E2E_KIND=1: the kind tier too (a real cluster; skipped, with what is missing, where neither
# root nor a working Docker can run one). A plain `pytest` leaves it out.
test: venv lint k8s-tools ## install everything the tests need and run them all
	GOCHAT_E2E_KIND=1 $(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: venv
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

operator-test: venv k8s-tools
	$(BIN)/pytest tests/operator $(PYTEST_ARGS)

e2e: venv
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

.PHONY: e2e-kind
e2e-kind: venv ## the kind tier alone (root or Docker); `make test` runs it too
	GOCHAT_E2E_KIND=1 $(BIN)/pytest tests/e2e/kind -s $(PYTEST_ARGS)

.PHONY: images
images: venv ## build the services and operator images (docker build where Docker answers, else buildah as root; cached by content)
	$(BIN)/python -m tests.images.build ensure

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
