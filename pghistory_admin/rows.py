"""Events as people read them: who, what, which object, what changed, and from where.

`event_rows()` turns a page (or an export chunk) of `Events` into `EventRow`s with a bounded
number of queries: one for the users and one per tracked model on the page, whatever the
number of events.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst

from pghistory import removed
from pghistory.config import redacted_columns
from pghistory_admin import loading
from pghistory_admin.conf import history_database
from pghistory_admin.diffs import (
    FieldDiff,
    Redaction,
    changes,
    merge,
    name_related,
    related_wanted,
    safe_str,
)
from pghistory_admin.lineage import LINEAGE_KEYS, Source, context_source


@dataclass
class EventRow:
    """One event, with everything a page or an export shows about it."""

    slug: str
    created_at: datetime.datetime
    label: str
    model: type[models.Model] | None
    model_label: str
    object_id: str | None
    changes: list[FieldDiff]
    data: dict
    context_id: uuid.UUID | None
    metadata: dict
    user_id: Any = None
    user: Any = None
    object_name: str = ""
    object_exists: bool = False
    #: On an object's timeline: the event is of another object that points to it.
    is_related: bool = False
    #: "insert", "update", "delete" or "snapshot" (a manual event), where a page needs it.
    kind: str = ""
    #: The labels of the change: this event's, and those of the events that other trackers
    #: stored for the same change (see `one_per_change`).
    labels: list[str] = dataclasses.field(default_factory=list)
    #: URLs of the pages about this event ("event", "context", "revert", ...), set by a view.
    links: dict = dataclasses.field(default_factory=dict)
    #: The user's and the object's primary keys, as looked up (None when not valid).
    user_lookup: Any = None
    object_lookup: Any = None

    @property
    def model_name(self) -> str:
        return self.model_label if self.model is None else capfirst(self.model._meta.verbose_name)

    @property
    def object_key(self) -> str | None:
        """The `object` filter value of this event's object ("app_label.model:pk")."""
        if self.model is None or self.object_id is None:
            return None
        return f"{self.model._meta.label_lower}:{self.object_id}"

    @property
    def user_name(self) -> str:
        if self.user is not None:
            return user_display(self.user)
        return "" if self.user_id is None else f"user #{self.user_id} (deleted)"

    @property
    def user_key(self) -> str | None:
        """The `user` filter value that selects this event's user."""
        if self.user is not None:
            return self.user.get_username()
        return None if self.user_id is None else str(self.user_id)

    @property
    def url(self) -> str:
        return context_url(self.metadata)

    @property
    def source(self) -> Source | None:
        """The task, command or shell that wrote the event (None for a request or other)."""
        return context_source(self.metadata)

    @property
    def other_metadata(self) -> dict:
        """Context metadata other than the user, the URL and the lineage (a reason, ...)."""
        return {
            key: value
            for key, value in self.metadata.items()
            if key not in ("user", "url") and key not in LINEAGE_KEYS
        }


def context_url(metadata: dict) -> str:
    """The URL of the request a context's metadata names ("" when it names none)."""
    url = metadata.get("url")
    return url if isinstance(url, str) else ""


def one_per_change(rows: list[EventRow]) -> list[EventRow]:
    """The rows with each change once: consecutive events that several trackers stored for
    one change (the same object, context and moment, with the same stored values or the same
    diff: an "update" and a "status_changed", say) become the first of them, with all their
    labels in `labels`."""
    changes: list[EventRow] = []
    for row in rows:
        last = changes[-1] if changes else None
        if (
            last is not None
            and row.object_key is not None
            and (row.object_key, row.context_id, row.created_at)
            == (last.object_key, last.context_id, last.created_at)
            and (row.data == last.data or _same_diff(row, last))
        ):
            if row.label not in last.labels:
                last.labels.append(row.label)
            continue
        row.labels = [row.label]
        changes.append(row)
    return changes


def _same_diff(row: EventRow, other: EventRow) -> bool:
    def pairs(diffs):
        return [(diff.name, diff.old, diff.new) for diff in diffs]

    return bool(row.changes) and pairs(row.changes) == pairs(other.changes)


def group_by_context(rows: list[EventRow]) -> list[tuple[EventRow, list[EventRow]]]:
    """Runs of consecutive rows written in the same context, as (first row, rows); a row
    without a context is a run of its own."""
    groups: list[tuple[EventRow, list[EventRow]]] = []
    for row in rows:
        if groups and row.context_id is not None and groups[-1][0].context_id == row.context_id:
            groups[-1][1].append(row)
        else:
            groups.append((row, [row]))
    return groups


def user_display(user) -> str:
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    username = user.get_username()
    return f"{full_name} ({username})" if full_name else username


def parse_pk(model: type[models.Model], raw: Any) -> Any:
    """`raw` as a valid primary key of `model` (in range for its column), or None."""
    try:
        return model._meta.pk.clean(raw, None)
    except (ValidationError, TypeError, ValueError):
        return None


def tracked_model(label: str) -> type[models.Model] | None:
    """The tracked model `label` names: the project's, or the stand-in of a deleted one."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return removed.tracked_model(label, history_database())


#: The most names an export remembers between its chunks (then it starts again).
KNOWN_NAMES = 100_000


def event_rows(
    events: Iterable, known: dict | None = None, redacted: Redaction = redacted_columns
) -> list[EventRow]:
    """`EventRow`s for `Events` instances, with their users and objects loaded in bulk.

    `known`, kept by the caller from one call to the next, remembers the users and the
    existing objects already named, so that each is loaded once. `redacted(model)` names the
    columns whose values the rows hide."""
    rows = []
    for event in events:
        model = tracked_model(event.pgh_obj_model)
        metadata = event.pgh_context if isinstance(event.pgh_context, dict) else {}
        rows.append(
            EventRow(
                slug=event.pgh_slug,
                created_at=event.pgh_created_at,
                label=event.pgh_label,
                model=model,
                model_label=event.pgh_obj_model,
                object_id=event.pgh_obj_id,
                changes=changes(model, event.pgh_diff, redacted),
                data=event.pgh_data or {},
                context_id=event.pgh_context_id,
                metadata=metadata,
                user_id=metadata.get("user"),
            )
        )
    load_names(rows, {} if known is None else known)
    return rows


def load_names(
    rows: list[EventRow],
    known: dict,
    read_data: Callable[[list[EventRow]], None] | None = None,
) -> None:
    """Load the users and objects the rows name (those not `known` yet), then what those
    objects' foreign keys and the changed foreign keys point to: two queries, however many
    models the rows show. An object that is gone is named from its event's stored data;
    `read_data(rows)`, if given, fills in `data` of just those rows first (for callers that
    read it only when needed)."""
    user_model = get_user_model()
    user_key = (user_model, user_model._meta.pk.attname)
    if len(known) > KNOWN_NAMES:
        known.clear()
    wanted: dict[loading.Key, set] = defaultdict(set)
    for row in rows:
        user_pk = parse_pk(user_model, row.user_id) if row.user_id is not None else None
        row_pk = parse_pk(row.model, row.object_id) if row.model and row.object_id else None
        row.user_lookup, row.object_lookup = user_pk, row_pk
        if user_pk is not None and (user_key, str(user_pk)) not in known:
            wanted[user_key].add(str(user_pk))
        if row_pk is not None:
            key = (row.model, row.model._meta.pk.attname)
            if (key, str(row_pk)) not in known:
                wanted[key].add(str(row_pk))
    found = loading.fetch(wanted)
    users = found.get(user_key, {})
    # (A user who is gone is remembered as gone.)
    known.update(((user_key, pk), users.get(pk)) for pk in wanted.get(user_key, ()))

    named = []
    for row in rows:
        if row.user_lookup is not None:
            row.user = known[user_key, str(row.user_lookup)]
        if row.object_lookup is not None:
            key = (row.model, row.model._meta.pk.attname)
            name = known.get((key, str(row.object_lookup)))
            if name is not None:  # an object that exists, named by an earlier chunk
                row.object_exists, row.object_name = True, name
                continue
            obj = found[key].get(str(row.object_lookup))
            row.object_exists = obj is not None
            named.append((row, obj))
    gone = [row for row, obj in named if obj is None]
    if gone and read_data is not None:
        read_data(gone)
    named = [(row, obj if obj is not None else _snapshot(row)) for row, obj in named]
    # What a __str__ is likely to follow, and the objects changed foreign keys point to.
    instances = list({id(obj): obj for _, obj in named}.values())
    diffs = [diff for row in rows for diff in row.changes]
    pointers = loading.pointers(instances)
    related = loading.fetch(merge(loading.wanted_by(pointers), related_wanted(diffs)))
    loading.attach(pointers, related)
    name_related(diffs, related)
    for row, obj in named:
        row.object_name = safe_str(obj)
        if row.object_exists:
            known[(row.model, row.model._meta.pk.attname), str(row.object_lookup)] = (
                row.object_name
            )


def _snapshot(row: EventRow) -> models.Model:
    """An unsaved instance holding the values an event stored."""
    return row.model(**loading.stored_values(row.model, row.data))
