PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test lint typecheck unit install dev clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install: what a user needs.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Dev install: the package plus test and lint tools.
$(VENV)/.dev-installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

quickstart: $(VENV)/.installed
	$(BIN)/modelkeep quickstart

LINT_PATHS := src tests $(wildcard benchmarks)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

unit: $(VENV)/.dev-installed
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck unit

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/tracking.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
