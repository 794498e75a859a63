# Two entry points on a fresh machine (each does its own set-up):
#   make demo   train a LightRNN and a full-softmax LSTM on real text, rescore real N-best lists, print WER
#   make test   run the test suite
# and, for the k2 adapter, a second environment (k2's PyPI wheels pin torch==1.13.1 and Python 3.10):
#   make test-k2   Python 3.10 + torch 1.13.1 + k2 1.23.4, runs tests/with_k2, the checkpoint, compression and distributed tests there
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

K2_VENV := .venv-k2
K2_BIN := $(K2_VENV)/bin
# a Python 3.10 interpreter: pyenv's if present (its shim refuses without a selected version), else PATH's
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)

.PHONY: all install demo test test-k2 clean

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

$(K2_VENV)/.installed: pyproject.toml
	$(PY310) -m venv $(K2_VENV)
	# pip 26.3 rejects the names of k2's wheels
	$(K2_BIN)/pip install -q --upgrade "pip<26.3"
	$(K2_BIN)/pip install -q torch==1.13.1 k2==1.23.4 "numpy<2"
	$(K2_BIN)/pip install -q -e ".[test,k2]"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests

test-k2: $(K2_VENV)/.installed
	$(K2_BIN)/python -m pytest -q tests/with_k2 tests/test_checkpoint.py tests/test_compress.py tests/test_distributed.py

demo: $(VENV)/.recipe
	PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/pocketsphinx/run.sh

clean:
	rm -rf $(VENV) $(K2_VENV) recipes/pocketsphinx/data recipes/pocketsphinx/exp recipes/pocketsphinx/download
