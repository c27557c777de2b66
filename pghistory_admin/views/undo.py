"""Undo everything one request or context changed (`pghistory_admin.undo`): a preview of what
undoing does to each object, with its conflicts, then the undo itself."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.http import Http404, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.utils.text import capfirst
from django.views.decorators.csrf import csrf_protect

from pghistory_admin import undo
from pghistory_admin.views.base import HistoryView


@method_decorator(csrf_protect, name="dispatch")
class UndoView(HistoryView):
    """GET: what undoing the context would do, object by object. POST: do it (the objects
    changed since the context only where the form says "undo anyway"), then go to the page of
    the context that recorded the undo."""

    http_method_names = ["get", "post", "head", "options"]
    page_name = "undo"

    def allowed(self, action: str, model) -> bool:
        """Each step needs the permission it would need by hand."""
        rule = {
            undo.DELETE: self.ui.can_delete,
            undo.RESTORE: self.ui.can_restore,
            undo.REVERT: self.ui.can_revert,
        }[action]
        return rule(self.request, model)

    def get_plan(self) -> undo.Plan:
        made = undo.plan(
            self.kwargs["context_id"],
            events=self.get_queryset(),
            allowed=self.allowed,
            redacted=self.redacted_columns,
            using=DEFAULT_DB_ALIAS,
        )
        if not made.steps:
            raise Http404("No such context.")
        return made

    def get(self, request, *args, **kwargs):
        return self.preview(self.get_plan())

    def post(self, request, *args, **kwargs):
        made = self.get_plan()
        states = {step.key: request.POST.get(f"state:{step.key}") for step in made.steps}
        forced = request.POST.getlist("force")
        if not any(not step.conflict or step.key in forced for step in made.actionable):
            return self.preview(made, notice="Nothing was chosen to undo, so nothing changed.")
        try:
            done = undo.apply(made, user=request.user, states=states, force=forced)
        except undo.Stale:
            error = (
                "Something this request changed has changed again since this page was opened,"
                " so nothing was undone. Here is what undoing would do now."
            )
            return self.preview(self.get_plan(), error=error, status=409)
        except DatabaseError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = f"The database refused the undo, so nothing was undone: {reason}"
            return self.preview(self.get_plan(), error=error, status=409)
        return HttpResponseRedirect(self.link("context", done.context_id), status=303)

    def preview(self, made: undo.Plan, *, error: str = "", notice: str = "", status: int = 200):
        self.status = status
        context_id = self.kwargs["context_id"]
        # Each object named as the browser names it (from its last event in the context).
        named = self.event_rows([step.events[-1] for step in made.steps])
        steps = [
            {
                "step": step,
                "model_name": capfirst(step.model._meta.verbose_name),
                "object_name": row.object_name,
                "timeline_url": self.link("object", step.model._meta.label_lower, step.pk),
                "later": self.event_rows(step.later) if step.later else [],
            }
            for step, row in zip(made.steps, named, strict=True)
        ]
        context = self.get_context_data(
            title=f"Undo context {str(context_id)[:8]}",
            context_url=self.link("context", context_id),
            steps=steps,
            actionable=bool(made.actionable),
            error=error,
            notice=notice,
            crumbs=[(f"Context {str(context_id)[:8]}", self.link("context", context_id))],
        )
        return self.render_to_response(context, status=self.status)
