# One command to set up and run the app, one to set up and run the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## set up and start the app (live Binance; pass ARGS=--demo for the simulator)
	$(BIN)/btc-tui $(ARGS)

demo: $(STAMP)  ## set up and start the app against the built-in simulator
	$(BIN)/btc-tui --demo $(ARGS)

test: $(STAMP)  ## set up and run lint + the whole test suite
	$(BIN)/ruff check btc_tui tests benchmarks
	$(BIN)/ruff format --check btc_tui tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix btc_tui tests benchmarks
	$(BIN)/ruff format btc_tui tests benchmarks

clean:
	rm -rf $(VENV)
