# astrotrain — everything a fresh machine needs, from nothing.
#   make demo       venv + install + the 5-phase pipeline, demo preset (~12 min on 2 cores; full quality: python train.py --mode full)
#   make test       venv + install (dev extra) + the whole test suite, slow tests included
#   make test-fast  the inner loop: tests not marked slow
#   make docs       the documentation site (mkdocs build --strict) → site/
#   make bench      the benchmark suite: regenerates BENCHMARKS.md
#   make bench-gpu  on a CUDA machine: the GPU readiness check (< 8 min) → runs/benchmarks/GPU_CHECK.md
# GPU users pick their torch build: make demo TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>"

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
TEST_WORKERS ?= 2  # pytest-xdist processes: test files run side by side (subprocess start-up and I/O overlap)
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed

.PHONY: demo test test-fast docs bench bench-gpu install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, with pip (it finds a machine's local CPU wheel), so that nothing below pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	# the rest with uv when it installs (several times faster, the same pins), else with pip
	if $(PY) -m pip install --quiet uv && $(VENV)/bin/uv --version >/dev/null 2>&1; then \
		$(VENV)/bin/uv pip install --quiet --python $(PY) -e ".[dev,docs]"; \
	else \
		$(PY) -m pip install --quiet -e ".[dev,docs]"; \
	fi
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) train.py --mode full --config config/presets/demo.yaml

test: $(STAMP)
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadgroup --durations=25

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow" -n $(TEST_WORKERS) --dist loadgroup

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	FLWR_TELEMETRY_ENABLED=0 $(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs data site .pytest_cache

bench-gpu: $(STAMP)
	PY=$(PY) benchmarks/gpu_check.sh
