# The README's two commands are `make run` and `make test`; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3737

.PHONY: run install install-test test lint types pytest bench fuzz clean

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

run: install
	$(BIN)/devflow up --host $(HOST) --port $(PORT)

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q

test: install-test lint types pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/platform_bench.py

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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
