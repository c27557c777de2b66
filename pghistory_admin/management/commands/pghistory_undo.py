"""`manage.py pghistory_undo CONTEXT_ID [--dry-run] [--force app_label.model:pk ...]`: undo
everything one request or context changed (see `pghistory_admin.undo`), printing the plan.

An object changed again after the context is left alone unless `--force` names it; an object
whose state before the context is not known is left alone. The undo is recorded in a context
of its own whose metadata names the undone one (`undo_of`), and the user with `--user`.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from pghistory_admin import undo


class Command(BaseCommand):
    help = "Undo everything one request or context changed (--dry-run prints the plan only)."

    def add_arguments(self, parser):
        parser.add_argument("context_id", help="the context's id (as the context page shows it)")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the plan, change nothing"
        )
        parser.add_argument(
            "--force",
            action="append",
            default=[],
            metavar="app_label.model:pk",
            help="undo this object although it changed after the context (repeatable)",
        )
        parser.add_argument("--user", help="the user name the undo is recorded for")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, context_id, dry_run, force, user, database, **options):
        try:
            context_id = uuid.UUID(context_id)
        except ValueError:
            raise CommandError(f'"{context_id}" is not a context id.') from None
        actor = None
        if user:
            user_model = get_user_model()
            actor = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: user}).first()
            if actor is None:
                raise CommandError(f'There is no user "{user}".')
        made = undo.plan(context_id, using=database)
        if not made.steps:
            raise CommandError(f"No events of context {context_id}.")
        keys = {step.key for step in made.steps}
        unknown = [key for key in force if key not in keys]
        if unknown:
            raise CommandError(f"Not an object of this context: {', '.join(unknown)}.")
        for step in made.steps:
            self.stdout.write(describe(step, forced=step.key in force))
        if dry_run:
            self.stdout.write("Dry run: nothing changed.")
            return
        try:
            taken = undo.apply(made, user=actor, force=force, using=database)
        except undo.Stale as error:
            raise CommandError(f"Nothing changed: {error}") from None
        except DatabaseError as error:
            raise CommandError(
                f"Nothing changed: the database refused the undo: {error}"
            ) from None
        self.stdout.write(f"Undone: {len(taken.steps)} object(s), in context {taken.context_id}.")


def describe(step: undo.Step, forced: bool = False) -> str:
    """One line of the plan: the object, what undoing does to it, and why not if it cannot."""
    name = f"{step.model._meta.label} {step.pk}"
    if step.blocked:
        return f"{name}: left alone: {step.blocked}"
    if step.action == undo.NOTHING:
        return f"{name}: nothing to undo"
    changes = ", ".join(diff.name for diff in step.diffs if diff.changed)
    what = {
        undo.DELETE: "delete it (the context created it)",
        undo.RESTORE: "restore it as it was before (the context deleted it)",
        undo.REVERT: f"put back {changes or 'its values'} as before",
    }[step.action]
    if step.conflict:
        later = step.later[-1]
        changed = f"changed again at {later.pgh_created_at.isoformat()} ({later.pgh_label})"
        what += f"; {changed}: {'undone anyway (--force)' if forced else 'left alone'}"
    if step.problems:
        what += "; " + "; ".join(problem.message for problem in step.problems)
    return f"{name}: {what}"
