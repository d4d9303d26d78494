# The two entry points of the README. Each sets itself up (virtualenv, packages; the Maven
# artifacts and services are fetched and started by intelbus itself) and is safe to re-run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "intelbus needs Python >= 3.11 (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(STAMP)
	$(BIN)/intelbus demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest

# The Quix Streams peer pins older confluent-kafka and pydantic: it gets a virtualenv of its own.
BENCH_STAMP := .venv-bench/.installed
$(BENCH_STAMP): pyproject.toml
	@$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	@.venv-bench/bin/python -m pip install --quiet --upgrade pip
	@.venv-bench/bin/python -m pip install --quiet "quixstreams==3.28.1" "fastavro>=1.9" "pyyaml>=6"
	@touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-bench .mypy_cache .ruff_cache .pytest_cache
