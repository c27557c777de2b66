"""Placeholder: being written."""

from django.http import Http404

from pghistory_admin.views.base import HistoryView


class _NotYet(HistoryView):
    def get(self, request, **kwargs):
        raise Http404("Not yet.")


ContextView = UserView = _NotYet
