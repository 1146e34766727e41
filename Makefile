# ml-connector: `make demo` to try it, `make test` to test it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
FREEMARKER_JAR := /usr/share/java/freemarker.jar
PYTEST_ARGS ?=

.PHONY: demo install test test-sqlite test-postgres lint freemarker chaos bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

.env:
	$(PY) -m connector.make_env > .env
	@echo "Wrote .env with fresh local keys (git-ignored)."

freemarker:
	@if [ ! -f $(FREEMARKER_JAR) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq libfreemarker-java >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libfreemarker-java)); \
	  else echo "Install Debian's libfreemarker-java (sudo apt-get install libfreemarker-java) for the template tests."; exit 1; fi; \
	fi

demo: install .env
	mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_demo
	$(PY) manage.py rundemo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# tests/browser and tests/agent_integration (on SQLite) run once, in their own targets.
test-sqlite: install freemarker
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -n 2 --ignore=tests/chaos --ignore=tests/browser \
	  --ignore=tests/agent_integration $(PYTEST_ARGS)

test-postgres: install freemarker
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(VENV)/bin/pytest -n 2 --ignore=tests/chaos \
	  --ignore=tests/browser $(PYTEST_ARGS)

test: lint test-agent test-browser test-sqlite test-postgres

# The operator's pages in real Chromium (Debian's, installed with apt-get when missing and root; never a
# browser download): tests/browser over a live server and the bundled simulators; screenshots in var/screenshots.
.PHONY: test-browser
test-browser: install
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)); \
	  else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser tests."; exit 1; fi; \
	fi
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -p no:xdist tests/browser $(PYTEST_ARGS)

# The Sage 100 agent (agent/, docs/agent.md): its own suite, the connector against the running agent
# (fake BOI, HTTPS on loopback), and its wheel installed into a clean venv (pywin32 skipped by marker).
.PHONY: test-agent
test-agent: install
	$(PY) -m pip install --quiet -e "agent[test]"
	cd agent && ../$(VENV)/bin/pytest $(PYTEST_ARGS)
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -p no:xdist tests/agent_integration $(PYTEST_ARGS)
	rm -rf var/agent-wheel && $(PY) -m build --wheel --no-isolation --outdir var/agent-wheel agent >/dev/null
	$(PY) -m venv var/agent-wheel/venv
	var/agent-wheel/venv/bin/pip install --quiet var/agent-wheel/mlc_agent-*.whl
	var/agent-wheel/venv/bin/python -c "import mlc_agent.server, mlc_agent; print('agent wheel installs:', mlc_agent.__version__)"
	! var/agent-wheel/venv/bin/pip show pywin32 >/dev/null 2>&1

# The heavy runs: crash and chaos on PostgreSQL + Redis with real qcluster processes (docs/reliability.md).
chaos: install
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(VENV)/bin/pytest -p no:xdist tests/chaos $(PYTEST_ARGS)

# The production shape on this machine (deploy/smoke.py): gunicorn + two qcluster + simulators on
# PostgreSQL (database smoke, recreated) and Redis DB 9; SMOKE_DATABASE_URL / SMOKE_REDIS_URL override.
.PHONY: smoke
smoke: install
	$(PY) deploy/smoke.py

# Benchmarks (not tests): print figures and write docs/performance.md (docs/performance.md says how).
bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
