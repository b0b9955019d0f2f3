# Two commands on a fresh clone: `make run` (platform + demo world on SQLite) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/cyberfusion db upgrade
	$(BIN)/cyberfusion demo --url http://$(HOST):$(PORT)
	$(BIN)/cyberfusion serve --host $(HOST) --port $(PORT)

# Lint, type-check, then the suite (SQLite unless CYBERFUSION_TEST_DATABASE_URL is set).
# pytest exits 5 when it collects no test; that is not a failure of the code.
test: lint
	$(BIN)/pytest -q -p no:cacheprovider || [ $$? -eq 5 ]

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
