# Two commands do all the set-up: `make demo` and `make test` (both create .venv when missing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench assign

# torch comes from PyTorch's CPU wheel index: PyPI's torch pulls several GB of CUDA packages.
# Where that index cannot be reached, the plain pinned wheel; a short timeout so pip never hangs.
TORCH := torch==2.13.0
TORCH_INDEX := https://download.pytorch.org/whl/cpu

$(VENV)/installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --timeout 15 --retries 0 --index-url $(TORCH_INDEX) "$(TORCH)" \
	  || $(PY) -m pip install --quiet -c constraints.txt "$(TORCH)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

demo: $(VENV)/installed
	$(PY) examples/demo.py

test: $(VENV)/installed
	$(PY) -m pytest

bench: $(VENV)/installed
	$(PY) benchmarks/grade_bench.py

assign: $(VENV)/installed
	$(PY) -m grader assign
