# One command to set up and run the app, one to set up and run the tests.
# The venv installs the exact versions in constraints.txt (pyproject.toml keeps ranges), and is
# rebuilt when either file changes.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt

.PHONY: run demo serve test test-3.13 lint bench install-web install-browser constraints clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test,web]'
	touch $(STAMP)

run: $(STAMP)  ## set up and start the app (live Binance; pass ARGS=--demo for the simulator)
	$(BIN)/btc-tui $(ARGS)

demo: $(STAMP)  ## set up and start the app against the built-in simulator
	$(BIN)/btc-tui --demo $(ARGS)

test: $(STAMP)  ## set up and run lint + the whole test suite
	$(BIN)/ruff check btc_tui tests benchmarks
	$(BIN)/ruff format --check btc_tui tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The newest Python pyproject.toml claims, in a venv of its own (PY313=/path/to/python3.13).
PY313 ?= python3.13
test-3.13:
	$(MAKE) test VENV=.venv-3.13 PY=$(PY313)

install-web: $(STAMP)  ## textual-serve for `btc-tui serve` (the set-up above already installs it)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test,web]'

serve: $(STAMP)  ## set up and serve the demo to a browser on http://127.0.0.1:8000/
	$(BIN)/btc-tui serve --demo $(ARGS)

# Debian's Chromium + chromedriver for the browser test of `serve` (needs root or sudo; where it
# cannot install, it says why and the browser test skips with that reason).
install-browser:
	sh scripts/install-browser

lint: $(STAMP)
	$(BIN)/ruff check --fix btc_tui tests benchmarks
	$(BIN)/ruff format btc_tui tests benchmarks

# Re-resolve the newest versions pyproject.toml allows, in a scratch venv, and pin them.
constraints:
	rm -rf .venv-lock
	$(PY) -m venv .venv-lock
	.venv-lock/bin/pip install -q --upgrade pip
	.venv-lock/bin/pip install -q -e '.[test,web]'
	{ grep '^#' $(CONSTRAINTS); .venv-lock/bin/pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .venv-3.13
