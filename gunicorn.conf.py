"""gunicorn's settings: ``gunicorn -c gunicorn.conf.py clinic.wsgi`` (gunicorn also reads this
file by itself when started from this folder). Command-line options override it.

Every line is JSON and none carries a query string: a patient search puts names and phone
numbers there (``/patients/search/?q=...``). The access line is built from the path alone
(``%(U)s``) and the response's ``X-Request-ID``, which ties it to the application's own access
line (user id, timing) and to everything else logged during the request. gunicorn's own
"Error handling request" line names the full URI; the JSON formatter cuts its query string.
The address to bind is the caller's choice (the Dockerfile binds 0.0.0.0:8000); the worker
count comes from ``WEB_CONCURRENCY``.
"""

accesslog = "-"
# Used only if logconfig_dict below is dropped: the plain line, still without the query.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "clinic.observability.JsonFormatter"},
        "access_json": {"()": "clinic.observability.GunicornAccessFormatter"},
    },
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "access_console": {
            "class": "logging.StreamHandler",
            "formatter": "access_json",
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": "WARNING", "handlers": ["error_console"]},
    "loggers": {
        # No "level": --log-level (gunicorn's loglevel) stays in force.
        "gunicorn.error": {"handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}


def post_worker_init(worker: object) -> None:
    """Move everything the worker loaded at start-up out of the garbage collector's sight.

    Django, the apps and their modules are never freed, yet every full collection walked
    them: in the slot benchmark (bench/http_slots.py) that showed as p95 pauses of 90-150 ms.
    Freezing them once the worker is ready leaves the collector only what requests create.
    """
    import gc

    gc.collect()
    gc.freeze()
