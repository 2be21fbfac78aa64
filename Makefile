# The README's two commands are `make run` and `make test`; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run PORT=3800` binds elsewhere; unset, DevFlow's settings decide (DEVFLOW_SERVER__HOST
# and __PORT, from the environment or .env; 127.0.0.1:3737 by default), as its messages say.
HOST ?=
PORT ?=

.PHONY: run install install-test test lint types pytest ui ui-if-node ui-test bench bench-ui fuzz clean

# The dashboard (ui/ and every domain's src/devflow/<domain>/ui/) builds into the package.
UI_DIST := src/devflow/web/ui_dist
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tailwind.config.js \
	ui/postcss.config.js ui/tsconfig.json ui/package.json src/devflow/*/ui -type f 2>/dev/null)
# No browser downloads, whatever a dependency asks for (tests use Debian's chromium).
export PUPPETEER_SKIP_DOWNLOAD := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	command -v skopeo >/dev/null || (apt-get update -qq && apt-get install -y -qq skopeo)
	# the CNCF reference registry the OCI tests compare DevFlow with (they skip without it)
	command -v docker-registry >/dev/null || (apt-get update -qq && apt-get install -y -qq docker-registry) || true
	# the browser the dashboard's Playwright tests drive (tests/e2e/test_dashboard_browser.py)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

run: install ui-if-node
	$(BIN)/devflow up$(if $(HOST), --host $(HOST))$(if $(PORT), --port $(PORT))

# npm ci writes node_modules/.package-lock.json: newer than the lockfile once installed.
ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund

$(UI_DIST)/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && npm run build

ui: $(UI_DIST)/index.html

# `make run` builds the dashboard when it is missing or stale, if Node.js is there at all.
ui-if-node:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory ui; \
	else echo "Node.js (npm) not found: the dashboard is not built (install Node 20, then make ui); the API runs without it"; fi

ui-test: ui/node_modules/.package-lock.json
	cd ui && npm run lint && npm run typecheck && npm run test
	$(MAKE) --no-print-directory ui

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q

test: install-test lint types ui-test pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/platform_bench.py

# The dashboard's benchmark (bench/ui.py: first-load size, Lighthouse, live updates) against the
# current build. Lighthouse is pinned apart from the dashboard's packages, in bench/lighthouse/.
bench/lighthouse/node_modules/.package-lock.json: bench/lighthouse/package-lock.json
	cd bench/lighthouse && npm ci --no-audit --no-fund

bench-ui: install-test ui bench/lighthouse/node_modules/.package-lock.json
	$(BIN)/python bench/ui.py

# The API fuzzing of tests/integration/test_api_fuzz.py at length: CI runs it with a small budget
# and a fixed seed; this runs many more examples from a random seed (a failure prints the seed,
# replay it with `make fuzz FUZZ_SEED=<seed>` and the same FUZZ_EXAMPLES).
FUZZ_EXAMPLES ?= 1000
FUZZ_SEED ?= random

fuzz: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	DEVFLOW_TEST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) DEVFLOW_TEST_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/pytest -q tests/integration/test_api_fuzz.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache ui/node_modules $(UI_DIST) \
		bench/lighthouse/node_modules
