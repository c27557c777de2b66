"""Middleware that wraps each request in a context with the user and the URL."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from pghistory import config
from pghistory.runtime import Lazy, context


def _user_pk(request) -> object:
    user = getattr(request, "user", None)
    return user.pk if user is not None and getattr(user, "is_authenticated", False) else None


class HistoryMiddleware:
    """Track the user and URL of each request whose method is in
    `PGHISTORY_MIDDLEWARE_METHODS`.

    The user is read when the first write is sent, so a user authenticated later in the
    request (as Django REST framework does) still reaches the context, and a request that
    writes nothing costs no query. Override `get_context` to add metadata.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def get_context(self, request) -> dict:
        """The metadata of the request's context."""
        return {"user": Lazy(lambda: _user_pk(request)), "url": request.path}

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if request.method not in config.middleware_methods():
            return self.get_response(request)
        with context(**self.get_context(request)):
            return self.get_response(request)

    async def __acall__(self, request):
        if request.method not in config.middleware_methods():
            return await self.get_response(request)
        async with context(**self.get_context(request)):
            return await self.get_response(request)
