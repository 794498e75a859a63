# Two entry points on a fresh machine (each does its own set-up):
#   make demo   train a LightRNN, an adaptive-softmax word LSTM and a BPE LSTM for the same time on real text at the
#               recognizer's vocabulary, give each a contact list, rescore real N-best lists, print WER and name errors
#   make test   run the test suite
#   make results   docs/results.md and README's results table from the records under docs/bench
# and the studies that build on the demo's outputs (names added after training, N-best versus lattice
# rescoring, the k2 adapter on first-pass lattices, the ways of adding names and a retrained reference;
# builds the k2 environment below):
#   make demo-extended
# and, for the k2 adapter, a second environment (k2's PyPI wheels pin torch==1.13.1 and Python 3.10):
#   make test-k2   Python 3.10 + torch 1.13.1 + k2 1.23.4 (+ pyctcdecode, which pins numpy < 2), runs tests/with_k2, the
#                  checkpoint, compression, distributed, LM-interface, one-step LightRNN, BPE LSTM and pyctcdecode tests there
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

K2_VENV := .venv-k2
K2_BIN := $(K2_VENV)/bin
# a Python 3.10 interpreter: pyenv's if present (its shim refuses without a selected version), else PATH's
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)

.PHONY: all install demo demo-extended results docs api test test-k2 clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<26.3"
	# torch first, pinned: a local CPU wheel here; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,docs,export,flashlight]"
	touch $@

$(VENV)/.recipe: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test,docs,export,flashlight,recipe]"
	touch $@

# k2 by name, version and hash (requirements/k2.txt: the hash picks the Python 3.10 build among
# k2's nonstandard wheel tags), then a check that the interpreter is 3.10 and that k2's extension imports.
$(K2_VENV)/.installed: pyproject.toml Makefile requirements/k2.txt
	rm -rf $(K2_VENV)
	$(PY310) -m venv $(K2_VENV)
	$(K2_BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 10), f"make test-k2 needs Python 3.10, {sys.executable} is {sys.version}"'
	# pip 26.3 rejects the names of k2's wheels
	$(K2_BIN)/pip install -q --upgrade "pip<26.3"
	$(K2_BIN)/pip install -q torch==1.13.1 graphviz "numpy<2"
	$(K2_BIN)/pip install -q --no-deps -r requirements/k2.txt
	# numpy<2 again: the package's own dependencies must not upgrade it past what torch 1.13.1 was built with
	$(K2_BIN)/pip install -q -e ".[test,decoders]" "numpy<2"
	$(K2_BIN)/python -c 'import k2, k2.version, numpy, torch; torch.from_numpy(numpy.zeros(1)); print("k2", k2.version.__version__, "torch", torch.__version__, "numpy", numpy.__version__, "from", k2.__file__)'
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

test-k2: $(K2_VENV)/.installed
	LIGHTRNN_ASR_REQUIRE_K2=1 $(K2_BIN)/python -m pytest -q tests/with_k2 tests/test_checkpoint.py tests/test_compress.py tests/test_distributed.py \
		tests/test_interface.py tests/test_lightrnn_onestep.py tests/test_piece_lstm.py tests/test_pyctcdecode.py tests/test_docs_code.py

demo: $(VENV)/.recipe
	PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/pocketsphinx/run.sh --stop-stage 7

# docs/results.md and README's results table, generated from the records under docs/bench (the latest
# demo record: docs/bench/demo.json; take a new one with
# `python benchmarks/render_results.py --demo recipes/pocketsphinx/exp/report/results.json`, with --repeat
# when it reruns the current record's recipe: the current one moves to docs/bench/demo_repeats/ and both are shown)
results: $(VENV)/.installed
	$(BIN)/python benchmarks/render_results.py

# docs/cli.md, the command-line reference, generated from the click commands
docs: $(VENV)/.installed
	$(BIN)/python -m lightrnn_asr.cli.reference > docs/cli.md

# the API reference, generated from the docstrings by pdoc into build/api (open build/api/index.html);
# tests/test_api_reference.py builds the same modules
api: $(VENV)/.installed
	$(BIN)/python -m pdoc -d restructuredtext --no-show-source -o build/api lightrnn_asr lightrnn_asr.text lightrnn_asr.lm lightrnn_asr.training lightrnn_asr.formats lightrnn_asr.scoring lightrnn_asr.evaluation lightrnn_asr.decoders

demo-extended: $(VENV)/.recipe $(K2_VENV)/.installed
	test -f recipes/pocketsphinx/exp/report/results.md || $(MAKE) demo
	PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/pocketsphinx/run.sh --stage 8

clean:
	rm -rf $(VENV) $(K2_VENV) recipes/pocketsphinx/data recipes/pocketsphinx/exp recipes/pocketsphinx/download
