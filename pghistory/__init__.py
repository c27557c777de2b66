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
    RowEvent,
    Tracker,
    UpdateEvent,
    create_event,
    create_event_model,
    track,
)
from pghistory.version import __version__

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
    "Q",
    "RelatedField",
    "Row",
    "RowEvent",
    "Statement",
    "Tracker",
    "Update",
    "UpdateEvent",
    "__version__",
    "create_event",
    "create_event_model",
    "track",
]
