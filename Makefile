# astrotrain — everything a fresh machine needs, from nothing.
#   make demo       venv + install + the full 5-phase pipeline on the embedded default universe (prints report.html's path)
#   make test       venv + install (dev extra) + the whole test suite, slow tests included
#   make test-fast  the inner loop: tests not marked slow
#   make bench      the benchmark suite: regenerates BENCHMARKS.md (~12 min on 2 CPU cores)
# GPU users pick their torch build: make demo TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>"

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed

.PHONY: demo test test-fast bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, so that nothing below pulls a multi-GB CUDA build on a CPU machine
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) train.py --mode full --config config/master_training.yaml run.name=demo

test: $(STAMP)
	$(PY) -m pytest tests

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow"

bench: $(STAMP)
	FLWR_TELEMETRY_ENABLED=0 $(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs data .pytest_cache
