"""Letting a client without a session read the history API: a bearer token that stands for a
staff user (the README's "JSON API")."""

from django.contrib.auth import get_user_model
from ninja.security import HttpBearer

from pghistory_admin.api import StaffSession
from pghistory_admin.sites import HistorySite

#: token → the user name it reads history as (a project keeps these in its settings or a table).
TOKENS = {"reporting-token-123": "reporting"}


class StaffToken(HttpBearer):
    """`Authorization: Bearer <token>` of a known token, for its active staff user."""

    def authenticate(self, request, token):
        username = TOKENS.get(token)
        user_model = get_user_model()
        user = user_model._default_manager.filter(
            username=username, is_active=True, is_staff=True
        ).first()
        if user is not None:
            request.user = user  # (the UI's rules read the request's user)
        return user


class TokenHistorySite(HistorySite):
    def api_auth(self):
        return [StaffSession(self), StaffToken()]
