# One command for each habit. Each target sets up the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run crawl test lint fmt bench demo clean

$(BIN)/veye: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/veye
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

## run: set up, then watch the sources of config.yaml until Ctrl-C
run: $(BIN)/veye
	$(BIN)/veye run

## crawl: set up, then poll every source once and print a summary
crawl: $(BIN)/veye
	$(BIN)/veye crawl

## test: set up the dev tools, then run the test suite
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

## lint: ruff, ruff format --check, mypy, import-linter contracts
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check crawler storage alerts veye
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(VENV)/.dev
	$(BIN)/ruff format crawler storage alerts veye
	$(BIN)/ruff check --fix .

## bench: the benchmarks against reader (see bench/README.md)
bench: $(VENV)/.bench
	$(BIN)/python -m bench

demo: $(BIN)/veye
	$(BIN)/veye demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
