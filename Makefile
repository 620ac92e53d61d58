# Two commands do everything on a fresh machine: `make train` and `make test` (each sets up first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch, installed before anything else so that no dependency pulls a CUDA build.
# GPU users: make setup TORCH="torch==2.13.0 --index-url <your CUDA wheel index>"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup train test test-fast lint bench notebooks multi30k clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,notebooks]'
	@touch $(STAMP)

setup: $(STAMP)

train: setup
	$(PY) -m nmt.train model=transformer $(ARGS)

test: setup
	$(PY) -m pytest -q $(ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(ARGS)

lint: setup
	$(PY) -m ruff check nmt tests notebooks
	$(PY) -m ruff format --check nmt tests notebooks
	$(PY) notebooks/build.py --check

bench: setup
	$(PY) -m nmt.bench $(ARGS)

# The notebooks at full size, one core, executed HTML copies in docs/notebooks/ (a few minutes:
# 02 trains both toy models for about 2 minutes each into NB_RUNS; 03 decodes with 02's Transformer).
NB_TIME := $(shell date +%Y-%m-%d_%H-%M-%S)
NB_RUNS ?= runs/notebooks/$(NB_TIME)
notebooks: setup
	OMP_NUM_THREADS=1 $(PY) notebooks/execute.py --html docs/notebooks \
		--param 02_rnn_vs_transformer:out_dir=$(NB_RUNS) --param 03_decoding:run=$(NB_RUNS)/transformer $(ARGS)

# The README's Multi30k results: both experiments at once, one core each (89 min), the length
# penalty of each chosen on val (test decoded once with it; every decode in 2 processes, the cores are free by then),
# then the report with each run's files.
#   make multi30k SRC=de TGT=en MULTI30K=../shared/data/multi30k   (no MULTI30K: download and check)
#   REPORT=docs/results/multi30k-de-en publishes the report there (default: <pair dir>/compare)
#   ARGS=… are more overrides for both runs; TRANSFORMER_ARGS=… and RNN_ARGS=… for one of them
#   (e.g. RNN_ARGS=model.net.dropout=0.5)
SRC ?= en
TGT ?= de
MULTI30K ?=
PAIR_DIR := runs/multi30k-$(SRC)-$(TGT)/$(shell date +%Y-%m-%d_%H-%M-%S)
REPORT ?= $(PAIR_DIR)/compare
ROOT_ARG = $(if $(MULTI30K),data.root=$(MULTI30K))
PAIR_ARGS = data.src_lang=$(SRC) data.tgt_lang=$(TGT) $(ROOT_ARG) threads=1 trainer.enable_progress_bar=false $(ARGS)
multi30k: setup
	@echo "training both models into $(PAIR_DIR)/ (logs: train-*.log there)"
	@mkdir -p $(PAIR_DIR)
	OMP_NUM_THREADS=1 $(PY) -m nmt.train experiment=multi30k_transformer $(PAIR_ARGS) $(TRANSFORMER_ARGS) \
		hydra.run.dir=$(PAIR_DIR)/transformer > $(PAIR_DIR)/train-transformer.log 2>&1 & tf=$$!; \
	OMP_NUM_THREADS=1 $(PY) -m nmt.train experiment=multi30k_rnn $(PAIR_ARGS) $(RNN_ARGS) \
		hydra.run.dir=$(PAIR_DIR)/rnn > $(PAIR_DIR)/train-rnn.log 2>&1 & rnn=$$!; \
	wait $$tf && wait $$rnn
	for model in transformer rnn; do \
		$(PY) -m nmt.length_penalty run=$(PAIR_DIR)/$$model save=true workers=2 $(ROOT_ARG) || exit 1; done
	$(PY) -m nmt.compare $(PAIR_DIR)/transformer $(PAIR_DIR)/rnn html=true copy_runs=true out=$(REPORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
