# Two commands do all the set-up: `make demo` and `make test` (both create .venv when missing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench assign

# torch is pinned to the CPU build: an unpinned torch pulls several GB of CUDA packages.
$(VENV)/installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt "torch==2.13.0"
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
