# One entry point for every task. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SRC := $(shell find src -name '*.py' -o -name '*.mako') pyproject.toml

.PHONY: run test lint format bench demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

## make run: install, create/upgrade the SQLite database, sync the default MMN watchlist
run: $(VENV)/.installed
	$(BIN)/trialwatch init
	$(BIN)/trialwatch sync mmn

## make test: install dev dependencies, lint, type-check and run the whole suite
test: $(VENV)/.dev-installed lint
	$(BIN)/pytest -n 4

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/changes.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/web.py

## make demo: serve the recorded sample records on loopback and sync them (no internet needed)
demo: $(VENV)/.dev-installed
	$(BIN)/python tests/support/fakeapi.py --port 8765 & echo $$! > .demo-server.pid; sleep 1; \
	TRIALWATCH_API_URL=http://127.0.0.1:8765/api/v2 $(BIN)/trialwatch init && \
	TRIALWATCH_API_URL=http://127.0.0.1:8765/api/v2 $(BIN)/trialwatch sync mmn; \
	status=$$?; kill `cat .demo-server.pid`; rm -f .demo-server.pid; exit $$status

clean:
	rm -rf $(VENV) trialwatch.db trialwatch.db-* outbox .pytest_cache .mypy_cache .ruff_cache
