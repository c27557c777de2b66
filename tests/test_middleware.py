"""`HistoryMiddleware`: each tracked request runs in a context holding its user and URL.

The views in `tests/views.py` write a `Book` and then rename it, so a request leaves an
"insert" and an "update" `BookEvent`.
"""

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test import AsyncClient, override_settings
from django.test.utils import CaptureQueriesContext

import pghistory
from pghistory.middleware import HistoryMiddleware
from pghistory.models import Context
from tests.testapp.models import BookEvent

HISTORY_MIDDLEWARE = "pghistory.middleware.HistoryMiddleware"


class RequestIdHistoryMiddleware(HistoryMiddleware):
    """Adds the request id that a proxy in front of the application sets."""

    def get_context(self, request):
        return {**super().get_context(request), "request_id": request.headers["X-Request-Id"]}


@pytest.fixture(autouse=True)
def _history_middleware():
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, HISTORY_MIDDLEWARE]):
        yield


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user(username="ann")


def _book_events():
    """(label, title, context id) of every `BookEvent`, oldest first."""
    return list(
        BookEvent.objects.order_by("pgh_id").values_list("pgh_label", "title", "pgh_context_id")
    )


def _contexts():
    return list(Context.objects.values_list("id", "metadata"))


@pytest.mark.django_db
def test_request_of_a_logged_in_user_records_the_user_and_url(client, ann):
    client.force_login(ann)

    client.post("/books/", {"title": "Dune"})

    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/"}
    assert _book_events() == [
        ("insert", "Dune", context_id),
        ("update", "Dune (final)", context_id),
    ]


@pytest.mark.django_db
def test_anonymous_request_records_no_user(client):
    client.post("/books/", {"title": "Dune"})

    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": None, "url": "/books/"}
    assert _book_events() == [
        ("insert", "Dune", context_id),
        ("update", "Dune (final)", context_id),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_every_default_method_is_tracked(client, ann, method):
    client.force_login(ann)

    getattr(client, method)("/books/")

    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/"}
    assert _book_events() == [
        ("insert", "Draft", context_id),
        ("update", "Draft (final)", context_id),
    ]


@pytest.mark.django_db
def test_method_outside_the_default_methods_is_not_tracked(client, ann):
    client.force_login(ann)

    client.options("/books/")

    assert _contexts() == []
    assert _book_events() == [("insert", "Draft", None), ("update", "Draft (final)", None)]


@pytest.mark.django_db
@override_settings(PGHISTORY_MIDDLEWARE_METHODS=("POST",))
def test_method_left_out_of_the_setting_is_not_tracked(client, ann):
    client.force_login(ann)

    client.get("/books/", {"title": "Dune"})

    assert _contexts() == []
    assert _book_events() == [("insert", "Dune", None), ("update", "Dune (final)", None)]


@pytest.mark.django_db
@override_settings(PGHISTORY_MIDDLEWARE_METHODS=("POST",))
def test_method_in_the_setting_is_tracked(client, ann):
    client.force_login(ann)

    client.post("/books/", {"title": "Dune"})

    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/"}
    assert _book_events() == [
        ("insert", "Dune", context_id),
        ("update", "Dune (final)", context_id),
    ]


@pytest.mark.django_db
def test_user_set_inside_the_view_reaches_the_context(client, ann):
    client.post(f"/books/as/{ann.username}/", {"title": "Dune"})

    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/as/ann/"}
    assert _book_events() == [
        ("insert", "Dune", context_id),
        ("update", "Dune (final)", context_id),
    ]


@pytest.mark.django_db
def test_async_view_records_the_user_and_url(ann):
    async def post():
        client = AsyncClient()
        await client.aforce_login(ann)
        return await client.post("/books/async/")

    response = async_to_sync(post)()

    assert response.status_code == 200
    [(context_id, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/async/"}
    assert _book_events() == [("insert", "Async", context_id)]


@pytest.mark.django_db
def test_subclass_adds_metadata_through_get_context(client, ann):
    client.force_login(ann)
    middleware = [*settings.MIDDLEWARE, "tests.test_middleware.RequestIdHistoryMiddleware"]

    with override_settings(MIDDLEWARE=middleware):
        client.post("/books/", {"title": "Dune"}, headers={"X-Request-Id": "req-42"})

    [(_, metadata)] = _contexts()
    assert metadata == {"user": ann.pk, "url": "/books/", "request_id": "req-42"}


@pytest.mark.django_db
def test_request_that_writes_nothing_sends_no_query(client, ann):
    client.force_login(ann)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/nothing/")

    assert response.status_code == 200
    assert queries.captured_queries == []


@pytest.mark.django_db
def test_context_ends_with_the_request(client):
    client.post("/books/", {"title": "Dune"})

    assert pghistory.capture_context() is None
