# Set-up and checks; every target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: install demo test test-reproduce test-all lint format bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so the project's torch>=2.4 pulls nothing more
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,ray,weightwatcher,gnn,mnist]"
	touch $@

demo: install
	$(BIN)/weightspace demo --out runs/demo

test: install
	$(BIN)/pytest -q

# every seed reproduction end to end with --quick (a few minutes; CI runs it after `test`)
test-reproduce: install
	$(BIN)/pytest -q -m slow tests/test_reproduce.py

test-all: install
	$(BIN)/pytest -q -m ""

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) benchmarks/zoo_throughput.py
	$(PY) benchmarks/tokens.py
	$(PY) benchmarks/demo.py --full
