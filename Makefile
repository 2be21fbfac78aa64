# The README's two commands are `make run` and `make test`; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3737

.PHONY: run install install-test test lint types pytest bench clean

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
