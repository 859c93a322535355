# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
# Everything else (uv, the virtual environment, the locked dependencies) is installed on first use.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run stack test lint typecheck pytest bench bench-quick bench-app bench-app-quick bench-soak vendor clean sync

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml apps/taskboard/pyproject.toml uv.lock
	$(UV) sync --frozen --all-packages --python $(PYTHON) --quiet
	@touch $@

sync: $(VENV)/.synced

run: $(VENV)/.synced ## Serve Taskboard on http://$(HOST):$(PORT) (a SQLite file in var/ unless DATABASE_URL is set)
	$(BIN)/taskboard serve --host $(HOST) --port $(PORT)

stack: $(VENV)/.synced ## The production topology: nginx (TLS, HTTP/2) on https://127.0.0.1:8443 (STACK_PORT) before 2 instances (STACK_INSTANCES) on PostgreSQL + Redis; SIGHUP rolls them, Ctrl-C stops
	$(BIN)/taskboard stack

seed: $(VENV)/.synced ## Fill the database with 1,000 demo users and 100,000 tasks
	$(BIN)/taskboard seed --users 1000 --tasks 100000

test: lint typecheck pytest ## Lint, type-check and run the whole test suite

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.synced
	$(BIN)/mypy

pytest: $(VENV)/.synced
	$(BIN)/pytest

bench: $(VENV)/.synced ## Every benchmark but the soak: framework, core, flags + telemetry, Taskboard (under 10 min; needs wrk: sudo bench/install-tools)
	$(BIN)/python -m bench

bench-quick: $(VENV)/.synced ## The same with fewer variants and 1 s runs, no Lighthouse (under 2 minutes)
	$(BIN)/python -m bench --quick

bench-app: $(VENV)/.synced ## Taskboard's parts alone: under load, servers and memory, page weight (~5 min)
	$(BIN)/python -m bench.app

bench-app-quick: $(VENV)/.synced ## The same, quick (under a minute)
	$(BIN)/python -m bench.app --quick

bench-soak: $(VENV)/.synced ## Taskboard's RSS over a 5-minute soak of the mixed load
	$(BIN)/python -m bench.servers --soak --soak-seconds $(or $(SOAK_SECONDS),300)

.PHONY: bench-peers
bench-peers: $(VENV)/.synced ## Taskboard's list page against the same page built the FastAPI way and the Django way (~1.5 min; in make bench too)
	$(BIN)/python -m bench.list_peers

.PHONY: bench-jobs
bench-jobs: $(VENV)/.synced ## Jobs through a real worker on each broker here: a 10,000-row import, a 100,000-task export, jobs per second (~2 min; not in make bench)
	$(BIN)/python -m bench.jobs

.PHONY: bench-live
bench-live: $(VENV)/.synced ## What 500 open live-update streams cost one process: list page req/s and p99, memory a stream, write-to-update latency (~1 min; not in make bench)
	$(BIN)/python -m bench.live_load

.PHONY: bench-slow3g
bench-slow3g: $(VENV)/.synced ## First and repeat visits per tier in Chromium on emulated Slow 3G: first paint, round trips, requests, bytes; BASELINE=REV measures that revision too (~4 min; not in make bench)
	$(BIN)/python -m bench.slow3g $(if $(BASELINE),--baseline $(BASELINE))

.PHONY: bench-topology
bench-topology: $(VENV)/.synced ## Taskboard behind nginx (TLS) with 1 and 2 instances, against one direct, on PostgreSQL (~5 min; not in make bench)
	$(BIN)/python -m bench.topology

vendor: ## Re-vendor htmx and Swagger UI from the npm registry and verify their pinned hashes
	$(BIN)/python scripts/vendor_htmx.py
	$(BIN)/python scripts/vendor_swagger_ui.py

.PHONY: screenshots
screenshots: $(VENV)/.synced ## Main screens at 375 and 1280 px, light and dark, JavaScript on and off, as PNG in docs/screenshots/ (needs .ci/install-browser-tools)
	$(BIN)/python -m tests.browser.screenshots docs/screenshots

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
