# `make run` and `make test` set everything up by themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
ADDRESS ?=

.PHONY: run test lint typecheck unit bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# Local mode: 127.0.0.1 only (.streamlit/config.toml). ADDRESS=0.0.0.0 serves a team, and only with sign-in
# configured in .streamlit/secrets.toml: the check refuses before Streamlit starts, and says what to set.
SERVE := --server.port $(PORT) $(if $(ADDRESS),--server.address $(ADDRESS))

run: $(VENV)/.runtime
	$(BIN)/python -m components.serving $(SERVE)
	$(BIN)/streamlit run streamlit_app.py $(SERVE)

# Debian packages the browser and database tests need, installed only when missing.
system-deps:
	@bash .ci/system-deps

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy studio components pages streamlit_app.py

unit: $(VENV)/.dev system-deps
	$(BIN)/pytest -n 2 --dist worksteal

test: lint typecheck unit

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
