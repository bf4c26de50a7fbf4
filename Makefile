# wpsnb — one-command set-up for the tutorial (make lab) and for the test suite (make test).
# Everything lives in a virtual environment in .venv; nothing is installed system-wide except
# Debian's chromium for the browser tests (as root, via apt-get).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# JupyterLab refuses to run as root without this flag (containers, CI machines).
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help lab serve test test-deps lint bench bench-quick clean

help:
	@echo "make lab          install and open the tutorial in JupyterLab (local service, no cloud account)"
	@echo "make test         install everything the tests need and run the whole suite"
	@echo "make serve        run the local Web PubSub service in the foreground"
	@echo "make bench        run every benchmark (minutes); make bench-quick: under a minute"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run an install only when pyproject.toml changes.
$(VENV)/.lab-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab,test]'
	@touch $@

tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab $(AS_ROOT) --ServerApp.port=$(PORT) notebooks/01-start-a-service.ipynb

serve: $(VENV)/.lab-installed
	$(BIN)/wpsnb serve

test-deps: $(VENV)/.test-installed tests/js/node_modules/.package-lock.json
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory chromium

# Browser tests drive Debian's chromium (never a downloaded browser build).
chromium:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium', then make test again." >&2; \
	  exit 1; \
	fi

lint: $(VENV)/.test-installed
	$(BIN)/ruff check wpsnb tests bench
	$(BIN)/ruff format --check wpsnb tests bench

test: test-deps lint
	$(BIN)/python -m pytest

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab,test,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench

bench-quick: $(VENV)/.bench-installed
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) tests/js/node_modules tests/artifacts .pytest_cache
