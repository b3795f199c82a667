# mesh-tracing: every task has a target here; `make help` lists them with what they do.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= dev
BASE   ?= origin/main
ARGS   ?=
# The Python the virtualenv must be made by; its version is part of each install stamp, so a .venv
# made by another Python is noticed and rebuilt.
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
LOCKS  := requirements
CHECK_VENV := .venv-runtime-check
# The scanner's own virtualenv (checkov pins its own dependencies; kept apart from .venv).
SCAN_VENV  := .venv-scan

.DEFAULT_GOAL := help
.PHONY: help install install-tools install-dev test lint typecheck unit golden up preview destroy validate plan plan-diff \
        manifests charts charts-offline \
        verify restart set-retention open bench bench-suite bench-tail facts lock check-runtime collectors-check scan e2e e2e-tools clean

## help: list the targets (STACK defaults to dev, BASE to origin/main; through make any failure exits 2)
help:
	@awk 'BEGIN {FS = ": "} /^## / {sub(/^## /, ""); split($$0, p, ": "); printf "  %-34s %s\n", p[1], substr($$0, length(p[1]) + 3)}' $(MAKEFILE_LIST)

# One virtualenv, filled in tiers from the lock files (hashes required): runtime ⊂ tools ⊂ dev; the
# scanner's tier goes into a virtualenv of its own ($(2), default $(VENV)).
define install_tier
	@case "$(PYVER)" in 3.11|3.12|3.13) ;; none) echo "error: $(PYTHON) not found; set PYTHON=python3.11 (3.11–3.13)" >&2; exit 2;; \
	  *) echo "error: $(PYTHON) is Python $(PYVER); the project needs 3.11–3.13 (set PYTHON=python3.11)" >&2; exit 2;; esac
	@if [ -x $(or $(2),$(VENV))/bin/python ]; then \
	  have=$$($(or $(2),$(VENV))/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo broken); \
	  if [ "$$have" != "$(PYVER)" ]; then \
	    echo "$(or $(2),$(VENV)) was made by Python $$have, not $(PYTHON) ($(PYVER)): rebuilding it"; rm -rf $(or $(2),$(VENV)); fi; \
	fi
	@[ -x $(or $(2),$(VENV))/bin/python ] || $(PYTHON) -m venv $(or $(2),$(VENV))
	$(or $(2),$(VENV))/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCKS)/$(1).txt
	@touch $@
endef

$(VENV)/.runtime-$(PYVER): $(LOCKS)/runtime.txt
	$(call install_tier,runtime)
$(VENV)/.tools-$(PYVER): $(LOCKS)/tools.txt
	$(call install_tier,tools)
$(VENV)/.dev-$(PYVER): $(LOCKS)/dev.txt
	$(call install_tier,dev)
$(SCAN_VENV)/.scan-$(PYVER): $(LOCKS)/scan.txt
	$(call install_tier,scan,$(SCAN_VENV))

RUNTIME := $(VENV)/.runtime-$(PYVER)
TOOLS   := $(VENV)/.tools-$(PYVER)
DEV     := $(VENV)/.dev-$(PYVER)

## install: the runtime virtualenv (the program and its policy pack: what `make up` needs)
install: $(RUNTIME)
## install-tools: runtime + the Kubernetes client for verify, restart, set-retention, open
install-tools: $(TOOLS)
## install-dev: everything: tests, linters, the offline plan and its renderers
install-dev: $(DEV)

## test: ruff, mypy --strict and pytest from a fresh clone (what CI runs)
test: lint typecheck unit

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

unit: $(DEV) charts-offline
	@$(BIN)/python -m meshtools.stacks
	$(BIN)/pytest

## scan: checkov over the rendered objects of every test and shipped stack (STACK=… one); a failure checkov-waivers.yaml does not waive, or a waiver no failure needs, fails it
scan: $(DEV) $(SCAN_VENV)/.scan-$(PYVER) charts-offline
	@$(BIN)/python -m meshtools.scan --checkov $(SCAN_VENV)/bin/checkov $(if $(filter command line,$(origin STACK)),--stack $(STACK))

# The tests render the pinned charts: from the mirror when MESH_TRACING_CHART_MIRROR names one,
# else from .charts/, filled by `make charts` on first use.
charts-offline: $(DEV)
	@if [ -z "$$MESH_TRACING_CHART_MIRROR" ]; then $(MAKE) --no-print-directory charts; fi

## collectors-check: build (or reuse) the real collectors; they validate every collector config the stacks render, and carry Envoy-shaped spans
collectors-check: $(DEV) charts-offline
	@rc=0; \
	$(BIN)/python -m meshtools.collectors check --stacks-dir . --stacks-dir tests/stacks || rc=$$?; \
	$(BIN)/pytest -m real tests/real/test_collectors.py tests/real/test_collector_data_path.py tests/real/test_tail_sampling.py || rc=$$?; \
	exit $$rc

## golden: regenerate tests/golden/: the test stacks' plans and the component test scenarios' (review the diff; the tests never write it)
golden: $(DEV)
	$(BIN)/python -m scripts.golden

## up / preview / destroy: deploy the stack to the cluster its file names (needs the Pulumi CLI)
up preview destroy: $(RUNTIME)
	@$(BIN)/python -m meshtools.deploy $@ --stack $(STACK)

## validate: check STACK's file as `pulumi up` reads it (every stack file without STACK=); runtime virtualenv only
validate: $(RUNTIME)
	@$(BIN)/python -m meshtools.stacks validate $(if $(filter command line,$(origin STACK)),--stack $(STACK))

## plan: the desired state of STACK offline, secrets masked (no CLI, cluster or credentials)
plan: $(DEV)
	@$(BIN)/python -m meshtools.plan render --stack $(STACK)

## manifests: every Kubernetes object STACK will create, charts rendered offline (secrets masked)
manifests: $(DEV)
	@$(BIN)/python -m meshtools.manifests --stack $(STACK)

## charts: download the pinned charts into .charts/, each checked against its repository's digest
charts: $(DEV)
	@$(BIN)/python -m meshtools.charts $(if $(filter command line,$(origin STACK)),--stack $(STACK))

## plan-diff: diff of the desired state and rendered objects against BASE, one-line summary; exit 0 no change or a change, 2 error (the tool: 0/1/2)
plan-diff: $(DEV)
	@$(BIN)/python -m meshtools.plan diff --stack $(STACK) --base $(BASE) || [ $$? -eq 1 ]

## verify / restart / set-retention: post-deploy tools on the stack's cluster (ARGS=… passes flags)
verify restart set-retention: $(TOOLS)
	@$(BIN)/python -m meshtools.verify.cli $@ --stack $(STACK) $(ARGS)

## open: SigNoz's UI and Kiali on localhost through the Kubernetes API until Ctrl-C (ARGS="--signoz-port 18080 --kiali-port 20002")
open: $(TOOLS)
	@$(BIN)/python -m meshtools.verify.cli open --stack $(STACK) $(ARGS)

## bench: evaluation time of STACK (default prod here) under mocks; not part of the test suite
bench: STACK = prod
bench: $(DEV)
	$(BIN)/python -m benchmarks.bench_program --stack $(STACK)

## bench-suite: the fast suite's wall and CPU time here and at BASE (runs alternate; ARGS=--workers 0 for one process)
bench-suite: $(DEV) charts-offline
	$(BIN)/python -m benchmarks.bench_suite --against $(BASE) $(ARGS)

## bench-tail: the share of error traces and of all traces the real SigNoz collector keeps as a tail sampler
bench-tail: $(DEV) charts-offline
	$(BIN)/python -m benchmarks.bench_tail_sampling

## facts: re-derive versions/*/*/facts/ from the pinned charts (mirror or `make charts`; EXTRA=dir, see the script)
facts: $(DEV)
	$(BIN)/python -m scripts.derive_facts $(if $(EXTRA),--extra $(EXTRA))

## lock: regenerate requirements/*.txt (hashes, every platform) from pyproject.toml (scan.txt from scan.in)
lock: $(DEV)
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes -o $(LOCKS)/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes --extra tools -o $(LOCKS)/tools.txt
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes --extra dev -o $(LOCKS)/dev.txt
	$(BIN)/uv pip compile $(LOCKS)/scan.in --quiet --universal --python-version 3.11 --generate-hashes -o $(LOCKS)/scan.txt
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes --override $(LOCKS)/e2e-overrides.txt -o $(LOCKS)/e2e.txt

# The e2e virtualenv: the runtime lock with the Kubernetes SDK at the release of the provider the Go
# module proxy serves (requirements/e2e-overrides.txt; docs/e2e.md: version skew).
E2E_VENV := .venv-e2e
E2E      := $(E2E_VENV)/.e2e-$(PYVER)
$(E2E): $(LOCKS)/e2e.txt
	@[ -x $(E2E_VENV)/bin/python ] && [ "$$($(E2E_VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$(PYVER)" ] \
	  || { rm -rf $(E2E_VENV) && $(PYTHON) -m venv $(E2E_VENV); }
	$(E2E_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCKS)/e2e.txt
	@touch $@

E2E_TOOLS := pulumi pulumi-kubernetes kubernetes etcd kwok
## e2e-tools: build the Pulumi CLI, the Kubernetes provider, the control plane, etcd and kwok from the Go module proxy (cached)
e2e-tools:
	@$(PYTHON) -m tools.toolchain build $(E2E_TOOLS)

## e2e: the real Pulumi engine, provider and a Kubernetes API server on loopback run the e2e stacks (docs/e2e.md)
e2e: $(DEV) $(E2E) e2e-tools charts-offline
	$(BIN)/pytest -m real tests/real/test_e2e.py -n 0 -s

## check-runtime: a fresh runtime-only virtualenv imports the program and the policy pack (CI runs it)
check-runtime:
	@rm -rf $(CHECK_VENV) && $(PYTHON) -m venv $(CHECK_VENV)
	@$(CHECK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCKS)/runtime.txt
	@$(CHECK_VENV)/bin/python -m scripts.check_runtime
	@echo "runtime virtualenv: $$(du -sh $(CHECK_VENV) | cut -f1)"
	@rm -rf $(CHECK_VENV)

## clean: remove the virtualenv and caches
clean:
	rm -rf $(VENV) $(CHECK_VENV) $(SCAN_VENV) $(E2E_VENV) .mypy_cache .ruff_cache .hypothesis
