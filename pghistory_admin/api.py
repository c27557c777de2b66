"""The history as JSON, under the UI's URLs (`api/`), with an OpenAPI 3 document made from the
code that serves it (`api/openapi.json`).

Built on django-ninja (the optional extra `django-pghistory[api]`): its endpoints are plain
functions whose type hints are both the validation of their parameters and the document, so
the document cannot drift from what is served, and it adds one small dependency (pydantic)
rather than a framework. Each endpoint asks the same views the pages use (their rules,
filter set, keyset pages, names and redaction), so the API shows exactly what the pages show
to the same user. Without django-ninja installed the UI serves no `api/` URLs.

Authentication: the session of a staff user, as for the pages (`StaffSession`). A project
lets other clients in by overriding `HistoryUI.api_auth()` to return more django-ninja auth
classes (for example an `HttpBearer` that maps a token to a staff user), or fewer.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import SessionAuth

from pghistory_admin import pagination
from pghistory_admin.diffs import compare, load_related
from pghistory_admin.views.base import event_page, query_string


class _BadRequest(Exception):
    """A request the API answers with a 400 and this message."""


class StaffSession(SessionAuth):
    """The session of a user the UI's rules let browse history (`can_browse`)."""

    def __init__(self, ui):
        self.ui = ui
        super().__init__()

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        return user if user is not None and self.ui.can_browse(request) else None


class Change(Schema):
    field: str
    label: str
    old: Any = None
    new: Any = None
    #: For a redacted field (its values hidden): whether it changed.
    redacted: bool = False


class Event(Schema):
    slug: str
    time: datetime.datetime
    label: str
    model: str
    object_id: str | None = None
    object: str = ""
    user: str | None = None
    context_id: str | None = None
    url: str = ""
    changes: list[Change]


class EventDetail(Event):
    #: The object as the event stored it, by field name (redacted fields hidden).
    data: dict[str, Any]
    #: The context's metadata (user, URL, ...).
    context: dict[str, Any] | None = None


class EventPage(Schema):
    results: list[Event]
    #: The URL of the next (older) page, or null on the last one.
    next: str | None = None
    #: The URL of the previous (newer) page, or null on the first one.
    previous: str | None = None


class ObjectHistory(EventPage):
    model: str
    pk: str
    exists: bool


class ContextHistory(EventPage):
    id: str
    metadata: dict[str, Any]


class Error(Schema):
    detail: str
    errors: dict[str, list[str]] | None = None


class EventFilters(Schema):
    model: list[str] = []
    label: list[str] = []
    user: str | None = None
    period: str | None = None
    since: str | None = None
    until: str | None = None
    context: str | None = None
    #: Everything a context caused: its events and those of every job descended from it.
    caused: str | None = None
    url: str | None = None
    object: str | None = None
    field: str | None = None
    q: str | None = None
    sort: str | None = None
    after: str | None = None
    before: str | None = None


ERRORS = {400: Error, 401: Error, 404: Error}


class HistoryAPI(NinjaAPI):
    """django-ninja's API, mounted inside the UI's URL namespace (`outer_namespace`)."""

    def __init__(self, *args, outer_namespace: str, **kwargs):
        self.outer_namespace = outer_namespace
        super().__init__(*args, **kwargs)

    def get_root_path(self, path_params) -> str:
        return reverse(
            f"{self.outer_namespace}:{self.urls_namespace}:api-root", kwargs=path_params
        )


def build(ui) -> NinjaAPI:
    """The API of the UI `ui` (a `HistoryUI`), to mount at its `api/`."""
    auths = ui.api_auth()
    api = HistoryAPI(
        outer_namespace=ui.namespace,
        title="History",
        version="1",
        description="The events the history UI shows, as JSON: the same filters, order, keyset"
        " pages, permissions and redaction as its pages.",
        # (unique per UI: django-ninja refuses two APIs of one namespace; the API's URL names
        # are inside the UI's own namespace anyway)
        urls_namespace=f"history_api_{id(ui)}",
        auth=auths,
        docs_url=None,
        # The document is for those who may read the API.
        docs_decorator=_for_the_api(auths),
    )

    @api.exception_handler(ValidationError)
    def invalid(request, exc):
        errors: dict[str, list[str]] = {}
        for error in exc.errors:
            errors.setdefault(".".join(str(part) for part in error.get("loc", ())), []).append(
                str(error.get("msg", "invalid"))
            )
        return api.create_response(
            request, {"detail": "Bad parameters.", "errors": errors}, status=400
        )

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        return api.create_response(
            request, {"detail": "Sign in as a staff user to read history."}, status=401
        )

    @api.exception_handler(_BadRequest)
    def bad_request(request, exc):
        return api.create_response(request, {"detail": str(exc)}, status=400)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)

    @api.get("/events/", response={200: EventPage, **ERRORS}, operation_id="events")
    def events(request: HttpRequest, filters: Query[EventFilters]):
        """Events, newest first, as the event browser's filters choose them."""
        view = _view(ui, ui.browser_view, request)
        filterset = view.get_filterset(view.get_filterset_class())
        if not filterset.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in filterset.errors.items()}
            return api.create_response(
                request, {"detail": "Bad filters.", "errors": errors}, status=400
            )
        return _page(view, filterset.qs, request)

    @api.get("/events/{slug}/", response={200: EventDetail, **ERRORS}, operation_id="event")
    def event(request: HttpRequest, slug: str):
        """One event: what it changed, the object as it stored it, and its context."""
        view = _view(ui, ui.event_view, request)
        row, _ = view.visible_event(slug)
        (shown,) = view.event_rows([row])
        values = compare(shown.model, None, shown.data, redacted=view.redacted_columns)
        load_related(values)
        return {
            **_event(shown),
            "data": {value.name: value.new for value in values},
            "context": shown.metadata or None,
        }

    @api.get(
        "/objects/{model}/{pk}/", response={200: ObjectHistory, **ERRORS}, operation_id="object"
    )
    def object_history(request: HttpRequest, model: str, pk: str):
        """One object's events, newest first (it may have been deleted)."""
        view = _view(ui, ui.timeline_view, request, model=model, pk=pk)
        tracked, key = view.visible_object(model, pk)
        queryset = view.get_queryset().tracks(tracked(pk=key))
        page = _page(view, queryset, request)
        exists = tracked._base_manager.filter(pk=key).exists()
        return {**page, "model": tracked._meta.label_lower, "pk": str(key), "exists": exists}

    @api.get(
        "/contexts/{context_id}/", response={200: ContextHistory, **ERRORS}, operation_id="context"
    )
    def context_history(request: HttpRequest, context_id: str):
        """Every event of one request or context, newest first."""
        from pghistory.models import Context

        view = _view(ui, ui.context_view, request, context_id=_uuid(context_id))
        queryset = view.get_queryset()
        page = _page(view, queryset, request)
        if not page["results"] and not request.GET.get("after") and not request.GET.get("before"):
            raise Http404("No such context.")
        stored = Context.objects.filter(pk=_uuid(context_id)).first()
        metadata = stored.metadata if stored is not None else (page["results"][0]["context"] or {})
        return {**page, "id": str(_uuid(context_id)), "metadata": metadata}

    return api


def _for_the_api(auths: list):
    """A view decorator that lets in whom one of `auths` lets in (else a 401, as JSON)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            for auth in auths:
                if auth(request) is not None:
                    return view(request, *args, **kwargs)
            return JsonResponse({"detail": "Sign in as a staff user to read history."}, status=401)

        return wrapped

    return decorator


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404("No such context.") from None


def _view(ui, view_class, request, **kwargs):
    """A view of the pages, set up for `request`: the API asks it what the page would show."""
    view = view_class(ui=ui)
    view.setup(request, **kwargs)
    return view


def _page(view, queryset, request):
    sort = request.GET.get("sort", pagination.DEFAULT_SORT)
    if sort not in pagination.SORTS:
        raise _BadRequest(f"sort is one of {', '.join(pagination.SORTS)}.")
    page, errors = event_page(request, queryset, sort)
    if page is None:
        raise _BadRequest(" ".join(errors) or "Bad page.")
    rows = view.event_rows(page.rows)
    return {
        "results": [{**_event(row), "context": row.metadata or None} for row in rows],
        "next": _link(request, after=page.older) if page.older else None,
        "previous": _link(request, before=page.newer) if page.newer else None,
    }


def _link(request, **cursor) -> str:
    return request.build_absolute_uri(request.path + query_string(request, **cursor))


def _event(row) -> dict:
    return {
        "slug": row.slug,
        "time": row.created_at,
        "label": row.label,
        "model": row.model_label.lower(),
        "object_id": None if row.object_id is None else str(row.object_id),
        "object": str(row.object_name or ""),
        "user": row.user_name if row.user_key is not None else None,
        "context_id": None if row.context_id is None else str(row.context_id),
        "url": row.url or "",
        "changes": [
            {
                "field": change.name,
                "label": str(change.label),
                "old": change.old,
                "new": change.new,
                "redacted": change.redacted,
            }
            for change in row.changes
        ],
    }
