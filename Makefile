# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format clean

$(BIN)/gospublic: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/gospublic
	$(BIN)/gospublic demo

test: $(BIN)/gospublic
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

format: $(BIN)/gospublic
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var out .pytest_cache
