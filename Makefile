# Two entry points on a fresh machine (each does its own set-up):
#   make demo   train a LightRNN and a full-softmax LSTM on real text, rescore real N-best lists, print WER
#   make test   run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: all install demo test clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<26.3"
	# torch first, pinned: a local CPU wheel here; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

$(VENV)/.recipe: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test,recipe]"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests

demo: $(VENV)/.recipe
	PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/pocketsphinx/run.sh

clean:
	rm -rf $(VENV) recipes/pocketsphinx/data recipes/pocketsphinx/exp recipes/pocketsphinx/download
