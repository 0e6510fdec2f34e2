# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint typecheck pytest test-db bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

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

test: $(VENV)/.installed lint typecheck pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy .

# pytest exits 5 when it collected no tests; that is not a failure of the suite.
pytest: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The database tests again, against the server named by DATABASE_URL.
test-db: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

bench: $(VENV)/.installed
	$(PY) bench/slots.py
	$(PY) bench/booking.py

clean:
	rm -rf $(VENV) var
