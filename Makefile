# The two commands a newcomer runs: `make demo` and `make test`.
# Both do their own set-up: a virtualenv in .venv with the project installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint postgres redis system-packages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[airflow,dashboard,test]'
	$(BIN)/pip check
	touch $(STAMP)

# Debian packages the tests drive: Chromium (the dashboard's browser test) and
# docker-compose (validates docker-compose.yml; no Docker engine runs here).
system-packages:
	@command -v chromium >/dev/null && command -v docker-compose >/dev/null && \
	  command -v redis-server >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium docker-compose redis-server >/dev/null 2>&1 || \
	  { apt-get update -qq && \
	    apt-get install -y --no-install-recommends chromium docker-compose redis-server >/dev/null; }; }

# The PostgreSQL server the integration tests use (127.0.0.1:5432, trust auth).
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1

# The Redis server the two-Celery-worker test uses (127.0.0.1:6379; it keeps nothing on disk).
redis: system-packages
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1

# Everything, every marker: what CI runs.
test: lint system-packages postgres redis
	$(BIN)/python -m pytest

# Unit tests only: no PostgreSQL, no servers, no browser, no Airflow, no real checkpoint.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow and not airflow and not browser"

demo: $(STAMP)
	$(BIN)/finsent demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache finsent.db
