# The web image: gunicorn serving the API, the staff UI and the admin.
#
#   docker build -t clinic .
#   docker run --rm -e DATABASE_URL=... -e SECRET_KEY=... -e ALLOWED_HOSTS=... clinic python manage.py migrate
#   docker run -d -p 8000:8000 -e DATABASE_URL=... -e SECRET_KEY=... -e ALLOWED_HOSTS=... clinic
#   docker run -d -e DATABASE_URL=... -e SECRET_KEY=... clinic python manage.py qcluster   # scheduled jobs
#
# Migrations are a separate step on purpose: several web containers must not race to migrate.
# Without SECRET_KEY (50+ characters) or DATABASE_URL a container refuses to start. HTTPS
# (redirect, HSTS, secure cookies) is on: put a TLS proxy in front that sets
# X-Forwarded-Proto, or pass -e HTTPS=false for plain HTTP on a trusted network.

# --- builder: the dependencies, in a venv that is copied whole into the runtime image -----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src
# Only the metadata: the dependency layer is rebuilt when pyproject.toml changes, not on
# every code change. The project declares no packages, so this installs dependencies only;
# the code is copied into the runtime image below and run from /app.
COPY pyproject.toml README.md ./
RUN pip install .

# --- runtime --------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=clinic.settings \
    WEB_CONCURRENCY=2

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the server process cannot rewrite it.
COPY . .

# Dummy values only so that settings import (with DEBUG off they refuse to load without a
# 50-character SECRET_KEY and a DATABASE_URL): collectstatic never connects to the database
# and signs nothing. var/ is the one writable place (the embedded PostgreSQL keeps its data
# there, for a run with EMBEDDED_DB=1 or DEBUG=true).
RUN SECRET_KEY=collectstatic-only-never-a-secret-of-any-deployment-0123456789 \
    DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
    python manage.py collectstatic --noinput \
    && mkdir -p var/pgdata \
    && chown app:app var var/pgdata

USER app

EXPOSE 8000

# ALLOWED_HOSTS decides which Host headers Django answers, so the check sends one it allows
# (the first entry; "localhost" for a wildcard). urlopen raises on a 503, failing the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.*') or 'localhost'; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/health', headers={'Host': host}), timeout=4)"]

# gunicorn reads the worker count from WEB_CONCURRENCY; gunicorn.conf.py makes every line JSON
# and keeps query strings (patient searches) out of the access log.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi", "--bind", "0.0.0.0:8000"]
