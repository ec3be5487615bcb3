# Two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RN := $(VENV)/bin/retailnova
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint format clean

setup: $(STAMP)
	@$(PY) -m extract.jars

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

demo: setup
	$(RN) source init --exists-ok
	$(RN) extract

lint: setup
	$(VENV)/bin/ruff check extract tests
	$(VENV)/bin/ruff format --check extract tests
	$(VENV)/bin/sqlfluff lint models snapshots analyses tests --processes 1

test: setup lint
	$(PY) -m pytest

format: setup
	$(VENV)/bin/ruff check --fix extract tests
	$(VENV)/bin/ruff format extract tests
	$(VENV)/bin/sqlfluff fix models snapshots analyses tests

clean:
	rm -rf .retailnova spark-warehouse metastore_db derby.log .pytest_cache
