"""Actions on history: put an object back as an event stored it (revert), or recreate a
deleted one from its last values (restore), after a confirmation page showing the diff."""

from __future__ import annotations

from django.contrib import messages
from django.db import DatabaseError, IntegrityError
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.text import capfirst
from django.views.decorators.csrf import csrf_protect

from pghistory_admin import revert as reverting
from pghistory_admin.diffs import safe_str
from pghistory_admin.rows import event_rows
from pghistory_admin.views.base import HistoryView


def _moment(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


@method_decorator(csrf_protect, name="dispatch")
class RevertView(HistoryView):
    """GET: what a revert (or restore) to the event would change, and what stands in its way.
    POST: do it, then go to the object's timeline."""

    http_method_names = ["get", "post", "head", "options"]
    page_name = "revert"

    def get(self, request, slug: str):
        target, names, page = self.resolve(request, slug)
        if page is not None:
            return page
        return self.confirm(request, names, self.plan(target))

    def post(self, request, slug: str):
        target, names, page = self.resolve(request, slug)
        if page is not None:
            return page
        plan = self.plan(target)
        if plan.problems:
            return self.confirm(request, names, plan, status=409)
        confirmed = request.POST.get("state")
        if confirmed and confirmed != plan.state:
            notice = (
                f"The {target.model._meta.verbose_name} changed after the confirmation page was"
                " opened, so nothing was written. Here is what the change would be now."
            )
            return self.confirm(request, names, plan, status=409, error=notice)
        if not plan.changes:
            return self.confirm(request, names, plan)
        try:
            obj = reverting.apply(plan, request.user)
        except (IntegrityError, DatabaseError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = f"The database refused the change, so nothing was written: {reason}"
            return self.confirm(request, names, self.plan(target), status=409, error=error)
        self.tell(request, target, obj)
        response = HttpResponseRedirect(self.timeline_url(target))
        response.status_code = 303  # See Other: the result is a page to GET
        return response

    # -- steps -----------------------------------------------------------------------------

    def plan(self, target) -> reverting.Plan:
        """What reverting to the target would change, redacted as the rules say."""
        return reverting.plan(target, redacted=self.redacted_columns)

    def get_template_model(self):
        return self.target.model

    def resolve(self, request, slug: str):
        """(target, names, None) when the user may go on; else (target, names, the page that
        says why not)."""
        row, event = self.visible_event(slug)
        target = self.target = reverting.target(row, event)
        names = self.names(target)
        allowed = (self.ui.can_revert if target.exists else self.ui.can_restore)(
            request, target.model
        )
        if not allowed:
            opts = target.model._meta
            if target.exists:
                refusal = (
                    f"You cannot revert this {opts.verbose_name}: reverting needs the"
                    f" permission to change {opts.verbose_name_plural}, which you do not have."
                )
            else:
                refusal = (
                    f"You cannot restore this {opts.verbose_name}: restoring a deleted"
                    f" {opts.verbose_name} needs the permission to add"
                    f" {opts.verbose_name_plural}, which you do not have."
                )
            return target, names, self.refuse(request, names, refusal, status=403)
        if not event.can_revert or target.pk is None:
            refusal = (
                f"This event cannot be used to {target.action} the"
                f" {target.model._meta.verbose_name}: its event model"
                f" ({type(event).__name__}) does not store every field of"
                f" {target.model._meta.verbose_name_plural}, so the"
                f" {target.model._meta.verbose_name} cannot be put back from it."
            )
            return target, names, self.refuse(request, names, refusal, status=409)
        return target, names, None

    def names(self, target) -> dict:
        """Title, breadcrumbs and the words for the object and the event."""
        row = event_rows([target.row])[0]
        opts = target.model._meta
        when = _moment(target.row.pgh_created_at)
        if target.exists:
            title = f"Revert {opts.verbose_name} {row.object_name}"
        else:
            title = f"Restore {opts.verbose_name} {row.object_name}"
        return {
            "title": title,
            "crumbs": [
                (f"{capfirst(opts.verbose_name)} {row.object_name}", self.timeline_url(target)),
                (
                    f"{target.row.pgh_label} event of {when}",
                    self.link("event", target.row.pgh_slug),
                ),
            ],
            "object_name": row.object_name,
            "verbose_name": opts.verbose_name,
            "event_label": target.row.pgh_label,
            "event_time": when,
            "event_url": self.link("event", target.row.pgh_slug),
            "timeline_url": self.timeline_url(target),
            "action": target.action,
        }

    def timeline_url(self, target) -> str:
        return self.link("object", target.model._meta.label_lower, str(target.pk))

    def refuse(self, request, names: dict, refusal: str, status: int):
        context = self.get_context_data(**names, refusal=refusal)
        return self.render_to_response(context, status=status)

    def confirm(self, request, names: dict, plan, status: int = 200, error: str = ""):
        target = plan.target
        context = {
            **names,
            "plan": plan,
            "diffs": plan.diffs,
            "changes": plan.changes,
            "problems": plan.problems,
            "before_title": "Now" if target.exists else "Now: does not exist",
            "after_title": "After revert" if target.exists else "After restore",
            "button": "Revert" if target.exists else "Restore",
            "state": plan.state,
            "error": error,
        }
        return self.render_to_response(self.get_context_data(**context), status=status)

    def tell(self, request, target, obj) -> None:
        opts = target.model._meta
        name = safe_str(obj)
        if target.exists:
            text = (
                f"Reverted {opts.verbose_name} {name} to the version of"
                f" {_moment(target.row.pgh_created_at)}."
            )
        else:
            text = f"Restored {opts.verbose_name} {name}."
        messages.success(request, text, fail_silently=True)
