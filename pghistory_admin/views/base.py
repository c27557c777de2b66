"""The pages of the history UI, in two places: inside the Django admin and standalone at the
URLs a project includes (`pghistory_admin.urls`); a `Surface` says which."""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connections, transaction
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from pghistory.aggregation import resolve_event_model
from pghistory.models import Events
from pghistory_admin import access, pagination
from pghistory_admin.conf import history_database
from pghistory_admin.filters import EventFilter
from pghistory_admin.rows import parse_pk

#: Query parameters that choose a page rather than filter events.
PAGE_PARAMS = ("after", "before", "last")


class Surface:
    """Where the pages are mounted, and how they link to each other there."""

    #: Names the surface's page template: pghistory_admin/<name>/page.html
    name = ""
    namespace = ""

    def url_name(self, page: str) -> str:
        return page

    def url(self, page: str, *args) -> str:
        return reverse(f"{self.namespace}:{self.url_name(page)}", args=args)

    def context(self, request) -> dict:
        return {}


class StandaloneSurface(Surface):
    """The pages at the project's own URLs, in their own layout."""

    name = "standalone"
    namespace = "pghistory_admin"


class AdminSurface(Surface):
    """The pages inside an admin site, under the model admin that mounts them."""

    name = "admin"

    def __init__(self, model_admin):
        self.model_admin = model_admin
        self.namespace = model_admin.admin_site.name

    def url_name(self, page: str) -> str:
        opts = self.model_admin.opts
        # The browser is the mounting model's change list, so the admin index links to it.
        return f"{opts.app_label}_{opts.model_name}_{'changelist' if page == 'browser' else page}"

    def context(self, request) -> dict:
        site = self.model_admin.admin_site
        return {
            **site.each_context(request),
            "opts": self.model_admin.opts,
            "admin_index_url": reverse(f"{site.name}:index"),
        }


def query_string(request, **values) -> str:
    """The request's query string without page parameters, with `values` set (a list sets
    several values of one parameter; an empty list removes it)."""
    params = request.GET.copy()
    for name in PAGE_PARAMS:
        params.pop(name, None)
    for name, value in values.items():
        params.setlist(name, value if isinstance(value, list) else [value])
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def pager_links(request, page: pagination.Page) -> dict:
    """The URLs of the newest, newer, older and oldest pages (None where there is none)."""
    return {
        "first_url": None if page.is_first else query_string(request),
        "newer_url": None if page.is_first else query_string(request, before=page.newer),
        "older_url": None if page.is_last else query_string(request, after=page.older),
        "last_url": None if page.is_last else query_string(request, last="1"),
    }


def event_page(request, queryset, sort: str) -> tuple[pagination.Page | None, list[str]]:
    """The page of `queryset` the request asks for, or None and why it cannot be read.

    A page stopped by the database's `statement_timeout` (which a project may set for the
    role or connection that reads history) gets a message that says how to narrow the
    search. Inside a transaction the page is read in a savepoint, so that the rest of the
    request can go on after such a stop."""
    connection = connections[queryset.db]
    reading = (
        transaction.atomic(using=queryset.db) if connection.in_atomic_block else nullcontext()
    )
    try:
        with reading:
            return pagination.page(queryset, sort, request.GET), []
    except pagination.InvalidCursor as exc:
        return None, [str(exc)]
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", getattr(exc.__cause__, "pgcode", None)) != "57014":
            raise
        return None, [
            "Finding these events took longer than the database allows, so the search was "
            "stopped. Narrow it with a date range, a model or a user."
        ]


class HistoryView(View):
    """A page of the history UI: signed-in staff only."""

    surface: Surface = StandaloneSurface()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not access.can_browse(request.user):
            raise PermissionDenied("Only staff members may see history.")
        if any("\x00" in str(value) for value in kwargs.values()):
            # Nothing is named with a NUL character: Postgres cannot even store one in text.
            raise Http404("No such page.")
        return super().dispatch(request, *args, **kwargs)

    def link(self, page: str = "browser", *args, **params) -> str:
        """The URL of a page on this view's surface, with query parameters `params`."""
        url = self.surface.url(page, *args)
        return f"{url}?{urlencode(params)}" if params else url

    def render(self, request, content_template: str, context: dict, status: int = 200):
        """A page: `content_template` inside the surface's layout. `context` gives at least
        "title"; "crumbs" may list (label, URL) pairs between the browser and the title."""
        return TemplateResponse(
            request,
            f"pghistory_admin/{self.surface.name}/page.html",
            {
                **self.surface.context(request),
                "browser_url": self.surface.url("browser"),
                "content_template": content_template,
                "crumbs": [],
                **context,
            },
            status=status,
        )

    def filters(self, request) -> EventFilter:
        return EventFilter(
            request.GET, queryset=access.visible_events(request.user), request=request
        )

    @staticmethod
    def sort(request) -> str:
        sort = request.GET.get("sort", pagination.DEFAULT_SORT)
        return sort if sort in pagination.SORTS else pagination.DEFAULT_SORT


def visible_model(user, model_key: str):
    """The tracked model named `model_key` ("app_label.model") if `user` may see its events;
    404 otherwise, so that a forbidden model looks like an unknown one."""
    for model in access.visible_models(user):
        if model._meta.label_lower == model_key.lower():
            return model
    raise Http404("No such tracked model.")


def visible_object(user, model_key: str, raw_pk: str):
    """(model, pk) of an object whose events `user` may see; the object may be deleted."""
    model = visible_model(user, model_key)
    pk = parse_pk(model, raw_pk)
    if pk is None:
        raise Http404("No such object.")
    return model, pk


def visible_event(user, slug: str):
    """(the `Events` row, the event model instance) of the event `slug` ("app.ModelEvent:id")
    if `user` may see it; 404 otherwise."""
    label, _, raw_id = slug.rpartition(":")
    try:
        event_model = resolve_event_model(label)
        pgh_id = int(raw_id)
    except (LookupError, ValueError):
        raise Http404("No such event.") from None
    if event_model.pgh_tracked_model not in access.visible_models(user):
        raise Http404("No such event.")
    database = history_database()
    row = Events.objects.using(database).across(event_model).filter(pgh_id=pgh_id).first()
    if row is None:
        raise Http404("No such event.")
    return row, event_model.objects.using(database).get(pgh_id=pgh_id)
