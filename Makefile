# Bluewire: `make run` for the demo, `make test` for the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9

.PHONY: run test lint format bench chaos install migrate clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.synced

## The demo on embedded defaults: SQLite, a filesystem broker and the provider simulator.
run: install
	$(PY) manage.py run_demo

## The whole test suite: SQLite unless DATABASE_URL is set.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m tests.bench.run

## The chaos drill: the production stack under traffic and faults; writes bench/chaos.json.
chaos: install
	$(PY) -m tests.chaos.drill

clean:
	rm -rf var/test-media var/*.sqlite3* var/broker
