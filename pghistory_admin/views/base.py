"""What every page of the history UI does: the checks, the template lookup, the links, and
(for the pages that list events) the filter set, the keyset page and the table."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from typing import TYPE_CHECKING
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connections, models, transaction
from django.http import Http404
from django.utils.http import RFC3986_SUBDELIMS, urlencode
from django.views.generic import TemplateView
from django_filters.views import FilterMixin
from django_tables2.views import SingleTableMixin

from pghistory.aggregation import resolve_event_model
from pghistory.models import Events
from pghistory_admin import pagination
from pghistory_admin.conf import history_database
from pghistory_admin.rows import EventRow, event_rows, parse_pk

if TYPE_CHECKING:
    from pghistory_admin.sites import HistoryUI

#: Stand-ins for a page's URL arguments while its URL is reversed once (`page_url`): each a
#: valid value of every converter the pages use (`str`, `uuid`), found nowhere else in a URL.
_PLACEHOLDERS = tuple(str(uuid.uuid4()) for _ in range(3))

#: Query parameters that choose a page rather than filter events.
PAGE_PARAMS = ("after", "before", "last")


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


class HistoryView(TemplateView):
    """A page of the history UI: signed-in users whom the rules let browse history only.

    `ui` (a `pghistory_admin.sites.HistoryUI`: the standalone `HistorySite` or an admin's
    `EventBrowserAdmin`) mounts the page and gives it its rules and classes. The template is
    the first of `get_template_names()` that exists; pages about one model or object look up
    `pghistory_admin/<app_label>/<model_name>/<page>.html`, then
    `pghistory_admin/<app_label>/<page>.html`, then `pghistory_admin/<page>.html`.
    """

    ui: HistoryUI | None = None
    #: The page's name: its template's name, and its URL's.
    page_name = ""
    #: The status of the response (a page that cannot show what was asked sets 400).
    status = 200

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not self.ui.can_browse(request):
            raise PermissionDenied("Only staff members may see history.")
        if any("\x00" in str(value) for value in kwargs.values()):
            # Nothing is named with a NUL character: Postgres cannot even store one in text.
            raise Http404("No such page.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        # The URL's arguments are read from self.kwargs, not put into the context as they
        # are: "model" there is the model, not its name in the URL.
        context = self.get_context_data()
        return self.render_to_response(context, status=self.status)

    def get_template_model(self) -> type[models.Model] | None:
        """The model this page is about, whose templates it looks up first (None: none)."""
        return None

    def get_template_names(self) -> list[str]:
        if self.template_name:
            return [self.template_name]
        names = [f"pghistory_admin/{self.page_name}.html"]
        model = self.get_template_model()
        if model is not None:
            opts = model._meta
            names[:0] = [
                f"pghistory_admin/{opts.app_label}/{opts.model_name}/{self.page_name}.html",
                f"pghistory_admin/{opts.app_label}/{self.page_name}.html",
            ]
        return names

    def get_context_data(self, **kwargs):
        context = {
            **self.ui.each_context(self.request),
            "page_name": self.page_name,
            "browser_url": self.ui.page_url("browser"),
            "crumbs": [],
            **kwargs,
        }
        return super().get_context_data(**context)

    def link(self, page: str = "browser", *args, **params) -> str:
        """The URL of a page of this view's UI, with query parameters `params`."""
        url = self.page_url(page, *args)
        return f"{url}?{urlencode(params)}" if params else url

    def page_url(self, page: str, *args) -> str:
        """`ui.page_url(page, *args)`, reversed once per page and number of arguments in a
        request: a table links every row to a few pages, and `reverse()` costs more than
        putting each row's arguments into the URL as `reverse()` would (quoted as it quotes
        them). An argument that `reverse()` could refuse (empty, or with a "/") is reversed."""
        if not args or len(args) > len(_PLACEHOLDERS):
            return self.ui.page_url(page, *args)
        texts = [str(arg) for arg in args]
        if not all(text and "/" not in text for text in texts):
            return self.ui.page_url(page, *args)
        templates = self.__dict__.setdefault("_url_templates", {})
        key = (page, len(args))
        if key not in templates:
            templates[key] = self.ui.page_url(page, *_PLACEHOLDERS[: len(args)])
        url = templates[key]
        for placeholder, text in zip(_PLACEHOLDERS, texts, strict=False):
            url = url.replace(placeholder, quote(text, safe=RFC3986_SUBDELIMS + "/~:@"))
        return url

    def redacted_columns(self, model) -> frozenset[str]:
        """The columns of `model` the rules redact for this request."""
        return self.ui.redacted_columns(self.request, model)

    def get_queryset(self):
        """The events this page may show: all that the request's user may see."""
        return self.ui.visible_events(self.request)

    def visible_model(self, model_key: str):
        """The tracked model named `model_key` ("app_label.model") if the user may see its
        events; 404 otherwise, so that a forbidden model looks like an unknown one."""
        for model in self.ui.visible_models(self.request):
            if model._meta.label_lower == model_key.lower():
                return model
        raise Http404("No such tracked model.")

    def visible_object(self, model_key: str, raw_pk: str):
        """(model, pk) of an object whose events the user may see; it may be deleted."""
        model = self.visible_model(model_key)
        pk = parse_pk(model, raw_pk)
        if pk is None:
            raise Http404("No such object.")
        return model, pk

    def visible_event(self, slug: str):
        """(the `Events` row, the event model instance) of the event `slug`
        ("app.ModelEvent:id") if the user may see it; 404 otherwise."""
        label, _, raw_id = slug.rpartition(":")
        try:
            event_model = resolve_event_model(label)
            pgh_id = int(raw_id)
        except (LookupError, ValueError):
            raise Http404("No such event.") from None
        if event_model.pgh_tracked_model not in self.ui.visible_models(self.request):
            raise Http404("No such event.")
        database = history_database()
        row = Events.objects.using(database).across(event_model).filter(pgh_id=pgh_id).first()
        if row is None:
            raise Http404("No such event.")
        return row, event_model.objects.using(database).get(pgh_id=pgh_id)

    def event_rows(self, events) -> list[EventRow]:
        """`EventRow`s of `Events`, as this request may see them."""
        return event_rows(events, redacted=self.redacted_columns)


class EventFilterMixin(FilterMixin):
    """django-filter's `FilterMixin` for a page of events: the filter set is
    `filterset_class`, else the mounting UI's, bound to the query string, narrowing the
    page's `get_queryset()` with the UI's rules."""

    def get_filterset_class(self):
        return self.filterset_class or self.ui.filterset_class

    def get_filter_data(self):
        """The filters' values: the query string."""
        return self.request.GET

    def get_filterset_kwargs(self, filterset_class):
        return {
            "data": self.get_filter_data(),
            "request": self.request,
            "queryset": self.get_queryset(),
            "rules": self.ui,
        }

    def sort(self) -> str:
        """The order of the events (`?sort=`), one of `pagination.SORTS`."""
        sort = self.request.GET.get("sort", pagination.DEFAULT_SORT)
        return sort if sort in pagination.SORTS else pagination.DEFAULT_SORT


class EventListView(EventFilterMixin, SingleTableMixin, HistoryView):
    """A page of events: a filter set (`filterset_class`, else the UI's), a keyset page of
    what it selects, and the page's rows in a django-tables2 table (`table_class`, else the
    UI's)."""

    table_pagination = False  # the page is a keyset page, read before the table is made
    #: Table columns this page leaves out.
    exclude_columns: tuple[str, ...] = ()

    def get_table_class(self):
        return self.table_class or self.ui.table_class

    def get_table_kwargs(self):
        return {"link": self.link, "order_by": self.sort(), "exclude": self.exclude_columns}

    def get_table_data(self):
        return self.rows

    def get_context_data(self, **kwargs):
        self.filterset = self.get_filterset(self.get_filterset_class())
        page, errors = (
            event_page(self.request, self.filterset.qs, self.sort())
            if self.filterset.is_valid()
            else (None, [])
        )
        self.rows = self.event_rows(page.rows) if page is not None else []
        if page is None:
            self.status = 400
        context = {"filters": self.filterset, "page": page, "errors": errors}
        if page is not None:
            context.update(pager_links(self.request, page))
        return super().get_context_data(**context, **kwargs)
