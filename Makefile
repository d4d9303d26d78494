# The two entry points of the README. Each sets itself up (virtualenv, packages; the Maven
# artifacts and services are fetched and started by intelbus itself) and is safe to re-run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench chaos lock clean

# pyproject.toml keeps version ranges; requirements.lock pins (with hashes) what is installed,
# so every machine gets the same packages. `make lock` regenerates it.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "intelbus needs Python >= 3.11 (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements.lock
	@$(BIN)/python -m pip install --quiet --no-deps -e .
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

# The fault suite on a three-broker cluster of its own (~/.intelbus-chaos, clients on ports
# 29092/29192/29292; tests/chaos/__main__.py), started if needed and stopped after: 100,000
# events published and routed while routers, the inbound leader broker, the registry and a
# subscriber fail, then the exactly-once checker. CHAOS_ARGS="--events N --rate R --seed S".
CHAOS_ARGS ?=
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

# The Quix Streams peer pins older confluent-kafka and pydantic: it gets a virtualenv of its own.
BENCH_STAMP := .venv-bench/.installed
$(BENCH_STAMP): pyproject.toml requirements-bench.lock
	@$(BIN)/python -m pip install --quiet -r requirements-bench.lock
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	@.venv-bench/bin/python -m pip install --quiet --upgrade pip
	@.venv-bench/bin/python -m pip install --quiet "quixstreams==3.28.1" "fastavro>=1.9" "pyyaml>=6"
	@touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench

# Resolved for the oldest supported Python on Linux x86_64, whatever machine runs it. Pins
# already in the lock are kept while pyproject.toml allows them; `make lock LOCK_FLAGS=--upgrade`
# moves everything to the newest allowed. The bench lock is held to the same pins.
UV         := $(BIN)/uv
LOCK_FLAGS ?=
LOCK_ARGS  := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
              --generate-hashes --custom-compile-command 'make lock' --quiet $(LOCK_FLAGS)

$(UV):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet uv

lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test $(LOCK_ARGS) -o requirements.lock
	$(UV) pip compile pyproject.toml --extra test --extra bench -c requirements.lock \
	    $(LOCK_ARGS) -o requirements-bench.lock

clean:
	rm -rf $(VENV) .venv-bench .mypy_cache .ruff_cache .pytest_cache
