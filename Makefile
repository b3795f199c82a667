# One line per task; the README lists them in this order.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= dev
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit up preview destroy bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: create the virtualenv, then ruff, mypy --strict and pytest (what CI runs)
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## up / preview / destroy: real deployments against the current kube context (need the Pulumi CLI)
up preview destroy: $(STAMP)
	@$(BIN)/python -m meshtools.deploy $@ --stack $(STACK)

## bench: evaluation time of the program under mocks (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_program.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
