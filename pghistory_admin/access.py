"""Who may see which history: the one place every page, export and action asks.

Only active staff users browse history. Superusers see every tracked model's events; other
staff see the events of the models they may view (Django's "view" or "change" permission on
the tracked model), and nothing of the others.
"""

from __future__ import annotations

from django.contrib.auth import get_permission_codename
from django.db import models

from pghistory.aggregation import event_models
from pghistory.models import Events
from pghistory_admin.conf import history_database


def can_browse(user) -> bool:
    """True for an active staff user: the only users who see any history."""
    return bool(user.is_active and user.is_staff)


def _has_model_permission(user, model: type[models.Model], *actions: str) -> bool:
    """True for an active staff user with one of the model's `actions` permissions (a
    superuser has them all)."""
    if not can_browse(user):
        return False
    if user.is_superuser:
        return True
    opts = model._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
        for action in actions
    )


def can_view_model(user, model: type[models.Model]) -> bool:
    """True when `user` may see the events of `model` (a tracked model)."""
    return _has_model_permission(user, model, "view", "change")


def can_revert(user, model: type[models.Model]) -> bool:
    """True when `user` may put an existing object of `model` (a tracked model) back to one of
    its earlier versions: the model's "change" permission (a superuser may always)."""
    return _has_model_permission(user, model, "change")


def can_restore(user, model: type[models.Model]) -> bool:
    """True when `user` may recreate a deleted object of `model` (a tracked model) from its
    history: the model's "add" permission (a superuser may always)."""
    return _has_model_permission(user, model, "add")


def can_see_stats(user) -> bool:
    """True when `user` may see the statistics of every event table (their sizes and growth
    cover every model's history): active staff superusers only."""
    return can_browse(user) and user.is_superuser


def tracked_models() -> list[type[models.Model]]:
    """Every tracked model, in the order of their labels."""
    models_by_label = {
        m.pgh_tracked_model._meta.label: m.pgh_tracked_model for m in event_models()
    }
    return [models_by_label[label] for label in sorted(models_by_label)]


def visible_models(user) -> list[type[models.Model]]:
    """The tracked models whose events `user` may see."""
    return [model for model in tracked_models() if can_view_model(user, model)]


def visible_event_models(user) -> list[type[models.Model]]:
    """The event models whose events `user` may see."""
    visible = set(visible_models(user))
    return [model for model in event_models() if model.pgh_tracked_model in visible]


def visible_events(user) -> models.QuerySet:
    """The `Events` queryset of everything `user` may see (empty for everyone else)."""
    return Events.objects.using(history_database()).across(*visible_event_models(user))
