# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint typecheck pytest test-db bench bench-ui bench-load bench-http chromium clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The demo is a development run: DEBUG allows the embedded database, the development key
# and the demo commands; runserver speaks plain HTTP on 127.0.0.1, so no HTTPS redirect.
demo: export DEBUG = true
demo: export HTTPS = false
demo: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(PY) manage.py create_demo_login
	$(PY) manage.py setup_schedules
	@echo "Starting the task cluster and the web server on http://$(HOST):$(PORT)/ (Ctrl-C stops both)"
	@trap 'kill $$QPID 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py qcluster & QPID=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed chromium lint typecheck pytest

# The browser tests drive Debian's Chromium; Playwright's own browser download cannot
# work here. Installed once, as root (CI runs as root); elsewhere, install it yourself.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "Could not install Chromium: the browser tests will be skipped (and fail under CI=true)."; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy .

# pytest exits 5 when it collected no tests; that is not a failure of the suite.
# Coverage of the project's own code is reported at the end.
COVERAGE := --cov=clinic --cov=scheduling --cov=notifications --cov=desk --cov=audit --cov=fhir --cov=calendars --cov=offers --cov-report=term:skip-covered
pytest: $(VENV)/.installed
	$(VENV)/bin/pytest $(COVERAGE) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The database tests again, against the server named by DATABASE_URL; the browser tests
# ran once already and do not depend on which PostgreSQL answers.
test-db: $(VENV)/.installed
	$(VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The benchmarks measure the production settings (DEBUG off: no query log, no debug
# pages) on a throwaway database, over plain HTTP, with a key made for the run.
bench bench-ui bench-load bench-http: export EMBEDDED_DB = 1
bench bench-ui bench-load bench-http: export HTTPS = false
bench bench-ui bench-load bench-http: export SECRET_KEY ?= $(shell $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')
bench: $(VENV)/.installed
	$(PY) bench/slots.py
	$(PY) bench/booking.py
	$(PY) bench/ui.py

bench-ui: $(VENV)/.installed
	$(PY) bench/ui.py

# 50 locust users for 60 s against gunicorn -w 4 (bench/README.md, "Load"); DATABASE_URL
# names the server for its scratch database, else the embedded one. Exits 1 on any error.
bench-load: $(VENV)/.installed
	$(PY) bench/load.py

# Slot search over HTTP on the shared reference clinic (bench/README.md, "Slot search over
# HTTP"): gunicorn -w 3, one keep-alive client; needs ../shared/bench/reference_clinic.py.
bench-http: $(VENV)/.installed
	$(PY) bench/http_slots.py

clean:
	rm -rf $(VENV) var
