# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test browser lint format clean

$(BIN)/gospublic: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/gospublic
	$(BIN)/gospublic demo

test: $(BIN)/gospublic browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The report's test looks at it in headless Chromium: Debian's package, installed when missing and
# the machine allows it (root with apt-get); otherwise that test says why it is skipped.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || echo "chromium not installed: the report's browser test will be skipped"

format: $(BIN)/gospublic
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var out .pytest_cache
