# Two entry points on a fresh machine:
#   make demo   set up, then train LightRNN + LSTM on real text and rescore real N-best lists
#   make test   set up, then run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install demo test clean

all: test

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<26.3"
	# torch first, pinned: a local CPU wheel here; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,recipe]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash recipes/pocketsphinx/run.sh

clean:
	rm -rf $(VENV) recipes/pocketsphinx/data recipes/pocketsphinx/exp recipes/pocketsphinx/download
