# Two commands for a fresh machine with Python 3.11+ and make:
#   make run    set up, fill the SQLite database with the synthetic demo county, serve on http://127.0.0.1:5000
#   make test   run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-pg lint migration scheduler bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/onecard demo --if-empty
	$(BIN)/onecard run --host $(HOST) --port $(PORT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

test-pg: $(BIN)/.installed
	ONECARD_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .

scheduler: $(BIN)/.installed
	$(BIN)/onecard scheduler

# Pre-production only: rebuild the initial migration from the models.
migration: $(BIN)/.installed
	rm -f migrations/versions/*_initial_schema.py /tmp/onecard-migration.db
	ONECARD_DATABASE_URL=sqlite:////tmp/onecard-migration.db $(BIN)/onecard db migrate -m "initial schema"
	$(BIN)/python scripts/finish_initial_migration.py migrations/versions/*_initial_schema.py

clean:
	rm -rf $(VENV) instance
