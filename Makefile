# One line per task; the README lists them in this order.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= dev
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck unit up preview destroy plan plan-diff verify restart set-retention bench facts clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## install: the virtualenv with every dependency from pyproject.toml (the first step of `make test`)
install: $(STAMP)

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

## plan / plan-diff: the desired state offline (no CLI, cluster or credentials), or its diff to BASE
plan: $(STAMP)
	@$(BIN)/python -m meshtools.plan render --stack $(STACK)

BASE ?= origin/main
plan-diff: $(STAMP)
	@$(BIN)/python -m meshtools.plan diff --stack $(STACK) --base $(BASE)

## verify / restart / set-retention: post-deploy tools against the current kube context (ARGS=… passes flags)
verify restart set-retention: $(STAMP)
	@$(BIN)/python -m meshtools.verify.cli $@ --stack $(STACK) $(ARGS)

## bench: evaluation time of the program under mocks (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_program.py

## facts: re-derive tests/facts/ from upstream values and CRDs, e.g. after a chart version bump
##        (UPSTREAM defaults to ../shared/upstream; EXTRA holds sources not in it, see the script)
facts: $(STAMP)
	$(BIN)/python scripts/derive_facts.py $(if $(UPSTREAM),--upstream $(UPSTREAM)) $(if $(EXTRA),--extra $(EXTRA))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
