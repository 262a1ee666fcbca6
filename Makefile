# The README's commands. Everything runs from the project's own virtualenv (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= build/demo
ROWS   ?= 2000
SEED   ?= 7
AS_OF  ?= 2026-11-30
MONTH  ?= $(shell echo $(AS_OF) | cut -c1-7)

.PHONY: system-deps setup demo demo-airflow airflow test lint typecheck unit bench constraints sample-include clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[airflow,dev]'
	@touch $(STAMP)
	@echo "setup: .venv ready; the console script is $(BIN)/governance"

demo: SHELL := /bin/bash
demo: .SHELLFLAGS := -o pipefail -c
demo: setup
	$(BIN)/governance sample-data --out $(DEMO)/exports --rows $(ROWS) --seed $(SEED) --as-of $(AS_OF)
	$(BIN)/governance run --crm $(DEMO)/exports/crm.csv --hr $(DEMO)/exports/hr.csv \
		--recruitment $(DEMO)/exports/recruitment.csv --as-of $(AS_OF) --out $(DEMO)/run \
		--db sqlite:///$(abspath $(DEMO))/governance.db; \
		status=$$?; test $$status -eq 0 -o $$status -eq 3
	$(BIN)/governance report monthly --month $(MONTH) --out $(DEMO)/monthly \
		--db sqlite:///$(abspath $(DEMO))/governance.db
	@echo
	@echo "The same chain through Airflow (dag.test() on a throwaway SQLite home):"
	$(BIN)/python scripts/airflow_chain.py --home $(DEMO)/airflow --as-of $(AS_OF) \
		--landing $(DEMO)/exports --adhoc "Data team" "demo run" 2>&1 \
		| grep -v '^[0-9-]*T[0-9:.]*Z \['
	@echo
	@echo "Demo outputs ($(abspath $(DEMO))):"
	@echo "  sample exports    : $(abspath $(DEMO))/exports/"
	@echo "  deletion manifest : $(abspath $(DEMO))/run/deletion_manifest.csv (+ .sha256)"
	@echo "  decisions         : $(abspath $(DEMO))/run/decisions.csv"
	@echo "  review queue      : $(abspath $(DEMO))/run/review_queue.csv"
	@echo "  consent actions   : $(abspath $(DEMO))/run/consent_actions.csv"
	@echo "  quarantine list   : $(abspath $(DEMO))/run/quarantine.csv"
	@echo "  data quality page : $(abspath $(DEMO))/run/data_quality.html"
	@echo "  audit report      : $(abspath $(DEMO))/run/audit_report.html (and .json)"
	@echo "  monthly report    : $(abspath $(DEMO))/monthly/governance_report_$(MONTH).html (+ CSVs)"
	@echo "  Airflow runs      : $(abspath $(DEMO))/airflow/outputs/ (scheduled/, monthly/, adhoc/)"

# The same chain through Airflow itself: dag.test() of ingestion, evaluation and an ad hoc
# review on a throwaway AIRFLOW_HOME (SQLite), reading the committed sample exports.
demo-airflow: SHELL := /bin/bash
demo-airflow: .SHELLFLAGS := -o pipefail -c
demo-airflow: setup
	$(BIN)/python scripts/airflow_chain.py --home build/airflow-demo --as-of $(AS_OF) \
		--adhoc "Data team" "demo run" 2>&1 | grep -v '^[0-9-]*T[0-9:.]*Z \['

# Airflow standalone on SQLite with this project's DAGs; prints the URL and login.
airflow: setup
	scripts/airflow_standalone.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check include tests dags plugins scripts

typecheck: setup
	$(BIN)/mypy

# The store tests start throwaway PostgreSQL servers from Debian's packages, the stack
# test (tests/stack/) the production topology natively, with Debian's Redis as its broker,
# and the browser test drives Debian's Chromium.
system-deps:
	@need=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v redis-server >/dev/null 2>&1 || need="$$need redis-server"; \
	[ -x /usr/bin/chromium ] || need="$$need chromium"; \
	if [ -n "$$need" ]; then \
		echo "installing Debian's$$need (the store, stack and browser tests use them)"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need; \
	fi

unit: setup system-deps
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

bench: setup
	$(BIN)/python scripts/bench.py

# Resolve the dependencies afresh into a scratch venv and freeze them as the new pins.
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install --quiet '.[airflow,dev]'
	{ head -2 constraints.txt; build/constraints-venv/bin/pip freeze --exclude-editable \
		| grep -v -E '^(pip|setuptools|wheel|retention-governance)[= ]'; } > constraints.new
	mv constraints.new constraints.txt

# The small generated set committed for the Airflow demo.
sample-include: setup
	$(BIN)/governance sample-data --out include/sample_exports --rows 300 --seed 2026 --as-of $(AS_OF)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis
