"""The embedded PostgreSQL used when no DATABASE_URL is configured.

pgserver ships a real PostgreSQL 16 inside a wheel, so a fresh machine needs nothing but
Python. The server keeps its data under ``./var/pgdata`` and stops when the last process
that started it exits.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

_server: Any = None


def embedded_database_url(base_dir: Path) -> str:
    global _server
    if _server is None:
        # platformdirs warns about a missing XDG_RUNTIME_DIR on servers; harmless here.
        warnings.filterwarnings("ignore", module="platformdirs")
        import pgserver  # imported lazily: only needed without DATABASE_URL

        data_dir = Path(os.environ.get("EMBEDDED_PG_DIR", base_dir / "var" / "pgdata"))
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return str(_server.get_uri())
