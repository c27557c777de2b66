"""Settings of the history UI that more than one module reads."""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS


def history_database() -> str:
    """The database alias the history UI reads from: `PGHISTORY_ADMIN_DATABASE` (a read
    replica, say), else "default". The browser, timelines, event, context and user pages and
    the exports read events, contexts and the objects they name there; a revert or restore
    reads the object's current row and writes (with its context) on the default database."""
    return getattr(settings, "PGHISTORY_ADMIN_DATABASE", DEFAULT_DB_ALIAS)
