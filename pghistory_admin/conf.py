"""Settings of the history UI that more than one module reads."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, models
from django.dispatch import receiver


def history_database() -> str:
    """The database alias the history UI reads from: `PGHISTORY_ADMIN_DATABASE` (a read
    replica, say), else "default". The browser, timelines, event, context and user pages and
    the exports read events, contexts and the objects they name there; a revert or restore
    reads the object's current row and writes (with its context) on the default database."""
    return getattr(settings, "PGHISTORY_ADMIN_DATABASE", DEFAULT_DB_ALIAS)


#: Fields whose values no page or export shows, by tracked model: `PGHISTORY_ADMIN_REDACT`
#: adds to these.
DEFAULT_REDACT = {"auth.User": ["password"]}
#: What pages and exports show in place of a redacted value.
REDACTED = "[redacted]"


@functools.cache
def redacted_columns(model: type[models.Model] | None) -> frozenset[str]:
    """The columns of `model` whose values are redacted: the fields named for it, or for a
    model it inherits from or proxies (`auth.User`'s password stays hidden in a proxy or a
    child of `auth.User`), in `DEFAULT_REDACT` and `PGHISTORY_ADMIN_REDACT`
    (`{"app_label.Model": ["field", ...]}`). Worked out once per model (every diff of every
    row asks), and again when the setting changes."""
    if model is None:
        return frozenset()
    named: dict[str, set[str]] = {}
    for label, fields in [
        *DEFAULT_REDACT.items(),
        *getattr(settings, "PGHISTORY_ADMIN_REDACT", {}).items(),
    ]:
        named.setdefault(label.lower(), set()).update(fields)
    columns = set()
    for candidate in {model, model._meta.concrete_model, *model._meta.get_parent_list()}:
        for name in named.get(candidate._meta.label_lower, ()):
            try:
                columns.add(model._meta.get_field(name).column)
            except FieldDoesNotExist:
                continue
    return frozenset(columns)


@receiver(setting_changed)
def _forget_redacted_columns(setting, **kwargs) -> None:
    if setting == "PGHISTORY_ADMIN_REDACT":
        redacted_columns.cache_clear()
