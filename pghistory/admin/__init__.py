"""Admin classes for events: the aggregate `Events` and each event model, view-only.

They live in `pghistory.admin.core` (where django-pghistory 3.9 has them); this module
re-exports the public ones.
"""

from pghistory.admin.core import (
    BackFilter,
    BaseEventAdmin,
    BoundedCountPaginator,
    DynamicFilter,
    EventModelAdmin,
    EventModelFilter,
    EventsAdmin,
    EventsChangeList,
    LabelFilter,
    MethodFilter,
    ModelFilter,
    ObjFilter,
)

__all__ = [
    "BackFilter",
    "BaseEventAdmin",
    "BoundedCountPaginator",
    "DynamicFilter",
    "EventModelAdmin",
    "EventModelFilter",
    "EventsAdmin",
    "EventsChangeList",
    "LabelFilter",
    "MethodFilter",
    "ModelFilter",
    "ObjFilter",
]
