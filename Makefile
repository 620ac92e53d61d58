# Two commands do everything on a fresh machine: `make train` and `make test` (each sets up first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch, installed before anything else so that no dependency pulls a CUDA build.
# GPU users: make setup TORCH="torch==2.13.0 --index-url <your CUDA wheel index>"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup train test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

train: setup
	$(PY) -m nmt.train model=transformer $(ARGS)

test: setup
	$(PY) -m pytest -q $(ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(ARGS)

lint: setup
	$(PY) -m ruff check nmt tests
	$(PY) -m ruff format --check nmt tests

bench: setup
	$(PY) -m nmt.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
