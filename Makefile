# Two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RN := $(VENV)/bin/retailnova
STAMP := $(VENV)/.installed-stamp
# sqlfluff's dbt templater opens a Spark session: keep its metastore and
# compiled files out of the working tree and away from a running pipeline.
LINT_HOME := $(CURDIR)/.retailnova/lint
SQLFLUFF := DBT_TARGET_PATH=$(LINT_HOME)/target JAVA_TOOL_OPTIONS=-Dderby.system.home=$(LINT_HOME) \
	$(VENV)/bin/sqlfluff

.PHONY: setup demo test test-e2e lint format clean run run-bronze run-silver run-gold run-quality

setup: $(STAMP)
	@$(PY) -m extract.jars
	@test -e dbt_packages/spark_expectations || \
		$(VENV)/bin/dbt deps --project-dir . --profiles-dir profiles --quiet

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

# The whole platform on the embedded default: the sample source, a full run,
# one simulated business day and the incremental run that follows it.
demo: setup
	@echo "== 1/4 the sample source (kept if it exists)"
	$(RN) source init --exists-ok
	@echo "== 2/4 the daily job: extract, dbt build of Silver and Gold, data quality"
	$(RN) run
	@echo "== 3/4 one business day passes in the source"
	$(RN) source simulate --days 1
	@echo "== 4/4 the incremental run: only the changed rows, merged into Gold"
	$(RN) run
	@echo "== done. The app: $(RN) app   (http://127.0.0.1:8501)"
	@echo "==       The lineage: $(RN) docs generate && $(RN) docs serve   (http://127.0.0.1:8080)"

# Shortcuts for the daily job and its layers (see `retailnova --help`).
run: setup
	$(RN) run
run-bronze: setup
	$(RN) run --layer bronze
run-silver: setup
	$(RN) run --layer silver
run-gold: setup
	$(RN) run --layer gold
run-quality: setup
	$(RN) dbt test --select tag:dq
	$(RN) dq report

lint: setup
	$(VENV)/bin/ruff check extract app tests
	$(VENV)/bin/ruff format --check extract app tests
	$(RN) dq generate --check
	$(SQLFLUFF) lint models snapshots analyses tests --processes 1

test: setup lint
	$(PY) -m pytest -m "not e2e"

# The multi-day end-to-end check of every Gold number (about 45 minutes on two cores).
test-e2e: setup
	$(PY) -m pytest -m e2e tests/e2e

format: setup
	$(VENV)/bin/ruff check --fix extract app tests
	$(VENV)/bin/ruff format extract app tests
	$(SQLFLUFF) fix models snapshots analyses tests

clean:
	rm -rf .retailnova spark-warehouse metastore_db derby.log .pytest_cache
