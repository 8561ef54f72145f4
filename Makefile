# Indgang: the two commands of the README, and the steps behind them.
#   make run   set up, migrate, load demo data, and serve on http://127.0.0.1:5000
#   make test  set up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test setup translations lint bench clean test-support

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Indgang needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed translations

translations: | $(BIN)/python
	$(BIN)/python tools/i18n.py compile

run: setup
	$(BIN)/indgang db upgrade
	$(BIN)/indgang demo load
	$(BIN)/indgang dev --port $(PORT)

# panva's oidc-provider for the login tests (tests/support/oidc_provider), pinned by
# its package-lock.json; the tests' fixture runs the same when it is missing.
OIDC_PROVIDER := tests/support/oidc_provider
$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund --loglevel=error

test-support: $(OIDC_PROVIDER)/node_modules/.package-lock.json

test: setup test-support
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/i18n.py check

bench: setup
	$(BIN)/python bench/routing.py

clean:
	rm -rf $(VENV) instance build .pytest_cache
