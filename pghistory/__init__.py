"""History tracking for Django and Postgres, with triggers."""

from pgtrigger import (
    AllChange,
    AllDontChange,
    AnyChange,
    AnyDontChange,
    Condition,
    Delete,
    F,
    Insert,
    Q,
    Row,
    Statement,
    Update,
)

from pghistory.config import (
    ContextForeignKey,
    ContextJSONField,
    ContextUUIDField,
    Field,
    ForeignKey,
    ObjForeignKey,
    RelatedField,
)
from pghistory.constants import DEFAULT, New, Old
from pghistory.core import (
    DeleteEvent,
    InsertEvent,
    ManualEvent,
    ProxyField,
    RowEvent,
    Tracker,
    UpdateEvent,
    create_event,
    create_event_model,
    track,
)
from pghistory.runtime import capture_context, context, resume_context
from pghistory.snapshots import as_of
from pghistory.version import __version__


def __getattr__(name):
    # These live in pghistory.models, which can be imported only once the apps are loaded.
    if name in ("Events", "MiddlewareEvents", "Context"):
        from pghistory import models

        return getattr(models, name)
    raise AttributeError(f"module 'pghistory' has no attribute {name!r}")


__all__ = [
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "Condition",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "DEFAULT",
    "Delete",
    "DeleteEvent",
    "F",
    "Field",
    "ForeignKey",
    "Insert",
    "InsertEvent",
    "ManualEvent",
    "New",
    "ObjForeignKey",
    "Old",
    "ProxyField",
    "Q",
    "RelatedField",
    "Row",
    "RowEvent",
    "Statement",
    "Tracker",
    "Update",
    "UpdateEvent",
    "__version__",
    "as_of",
    "capture_context",
    "context",
    "resume_context",
    "create_event",
    "create_event_model",
    "track",
]
