# Every target sets up what it needs by itself: a fresh machine with only Python works.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CACHE  := .cache
export PATH := $(CURDIR)/$(CACHE)/bin:$(PATH)

.PHONY: test lint typecheck pytest run check bench demo soak tools clean

test: lint typecheck pytest

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

tools: $(CACHE)/bin/.fetched

$(CACHE)/bin/.fetched: tests/tools/fetch-debs tests/tools/fetch-chromium
	tests/tools/fetch-debs $(CACHE)
	tests/tools/fetch-chromium $(CACHE)
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sdgen tests
	$(VENV)/bin/ruff format --check sdgen tests

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict sdgen

pytest: $(VENV)/.installed tools
	$(PY) -m pytest -q $(PYTEST_ARGS)

check: $(VENV)/.installed
	$(VENV)/bin/sdgen check examples/

run: $(VENV)/.installed
	tests/tools/run-example

bench: $(VENV)/.installed tools
	$(PY) -m tests.bench --out bench-results.json

# The reliability suite, long: 10 minutes of chaos and 50 kill -9s (seeds printed; replay with
# SDGEN_CHAOS_SEED / SDGEN_CRASH_SEED).
soak: $(VENV)/.installed tools
	SDGEN_CHAOS_SECONDS=$${SDGEN_SOAK_SECONDS:-600} SDGEN_CRASH_KILLS=50 \
	  $(PY) -m pytest -q -s -o timeout=1200 tests/system/test_chaos.py tests/system/test_crash.py

clean:
	rm -rf $(VENV) $(CACHE) out

demo: $(VENV)/.installed tools
	$(PY) tests/tools/demo
