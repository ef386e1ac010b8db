# One obvious way to run, test, lint and measure acd. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/acd demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check acd tests loadtest
	$(BIN)/mypy acd

bench: $(STAMP)
	$(BIN)/python -m loadtest.bench_routing
	$(BIN)/python -m loadtest.bench_end_to_end

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
