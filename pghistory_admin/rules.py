"""Who may see which history, who may revert, and which fields are redacted: the rules every
page, export and action asks, as methods to override.

`HistoryRules` is mixed into the two classes that mount the UI: `EventBrowserAdmin` (the pages
inside an admin site) and `HistorySite` (the standalone pages). Override a method on a
subclass of either to change a rule; each takes the request, so a rule may depend on the user,
the host, a header, or anything else the request carries. The defaults:

- only active staff users see any history;
- superusers see every tracked model's events; other staff see the events of the models they
  have the "view" or "change" permission for;
- reverting needs the model's "change" permission, restoring a deleted object its "add"
  permission, deleting one (undoing the request that created it) its "delete" permission (and
  none is possible for a model the project deleted);
- the statistics page is for superusers;
- `auth.User.password` and the fields named in `PGHISTORY_ADMIN_REDACT` are redacted.
"""

from __future__ import annotations

from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from pghistory.config import redacted_columns
from pghistory.models import Events
from pghistory.removed import all_event_models, is_removed
from pghistory_admin.conf import history_database


def event_models() -> list[type[models.Model]]:
    """Every event model the UI shows: the project's, and those of deleted tracked models
    (`pghistory.removed`), whose history is kept."""
    return all_event_models(history_database())


def tracked_models() -> list[type[models.Model]]:
    """Every tracked model, in the order of their labels (deleted ones too, as stand-ins
    named "<model> (removed)")."""
    models_by_label = {
        m.pgh_tracked_model._meta.label: m.pgh_tracked_model for m in event_models()
    }
    return [models_by_label[label] for label in sorted(models_by_label)]


def has_model_permission(user, model: type[models.Model], *actions: str) -> bool:
    """True for an active user with one of the model's `actions` permissions (a superuser
    has them all)."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    opts = model._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
        for action in actions
    )


class HistoryRules:
    """The rules of the history UI. Override any method; the others follow from them."""

    # -- The rules ---------------------------------------------------------------------------

    def can_browse(self, request) -> bool:
        """True when the request's user may see any history at all: active staff users."""
        user = request.user
        return bool(user.is_authenticated and user.is_active and user.is_staff)

    def can_view_history(self, request, model: type[models.Model]) -> bool:
        """True when the request's user may see the events of `model` (a tracked model)."""
        return self.can_browse(request) and has_model_permission(
            request.user, model, "view", "change"
        )

    def can_revert(self, request, model: type[models.Model]) -> bool:
        """True when the request's user may put an existing object of `model` back to one of
        its earlier versions: the model's "change" permission."""
        return (
            not is_removed(model)
            and self.can_view_history(request, model)
            and has_model_permission(request.user, model, "change")
        )

    def can_restore(self, request, model: type[models.Model]) -> bool:
        """True when the request's user may recreate a deleted object of `model` from its
        history: the model's "add" permission."""
        return (
            not is_removed(model)
            and self.can_view_history(request, model)
            and has_model_permission(request.user, model, "add")
        )

    def can_delete(self, request, model: type[models.Model]) -> bool:
        """True when the request's user may delete an object of `model` from the history UI
        (undoing the request that created it): the model's "delete" permission."""
        return (
            not is_removed(model)
            and self.can_view_history(request, model)
            and has_model_permission(request.user, model, "delete")
        )

    def can_see_stats(self, request) -> bool:
        """True when the request's user may see the statistics of every event table (their
        sizes and growth cover every model's history): superusers."""
        return self.can_browse(request) and request.user.is_superuser

    def redacted_fields(self, request, model: type[models.Model]) -> set[str]:
        """The names of the fields of `model` whose values the request's user must not see:
        pages, diffs, exports and the text search then show that such a field changed, never
        what it held. By default `auth.User.password` and `PGHISTORY_ADMIN_REDACT`, for
        everyone."""
        by_column = {field.column: field.name for field in model._meta.concrete_fields}
        return {by_column.get(column, column) for column in redacted_columns(model)}

    # -- What follows from them --------------------------------------------------------------

    def visible_models(self, request) -> list[type[models.Model]]:
        """The tracked models whose events the request's user may see."""
        cache = _request_cache(request, self)
        if "models" not in cache:
            cache["models"] = [m for m in tracked_models() if self.can_view_history(request, m)]
        return cache["models"]

    def visible_event_models(self, request) -> list[type[models.Model]]:
        """The event models whose events the request's user may see."""
        visible = set(self.visible_models(request))
        return [model for model in event_models() if model.pgh_tracked_model in visible]

    def visible_events(self, request) -> models.QuerySet:
        """The `Events` of everything the request's user may see (none for anyone else)."""
        return Events.objects.using(history_database()).across(*self.visible_event_models(request))

    def redacted_columns(self, request, model: type[models.Model] | None) -> frozenset[str]:
        """The columns (keys of stored data) of `redacted_fields`, as diffs read them."""
        if model is None:
            return frozenset()
        cache = _request_cache(request, self).setdefault("redacted", {})
        if model not in cache:
            columns = set()
            for name in self.redacted_fields(request, model):
                try:
                    columns.add(model._meta.get_field(name).column)
                except FieldDoesNotExist:
                    columns.add(name)  # a column the model no longer has
            cache[model] = frozenset(columns)
        return cache[model]


def _request_cache(request, rules: HistoryRules) -> dict:
    """What `rules` worked out for this request (asked many times by one page)."""
    caches = request.__dict__.setdefault("_pghistory_rules", {})
    return caches.setdefault(id(rules), {})
