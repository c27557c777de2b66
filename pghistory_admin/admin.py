"""The history UI inside the Django admin: "History › Events" on the admin index."""

from django.contrib import admin

from pghistory.admin import BaseEventAdmin
from pghistory_admin import access
from pghistory_admin.models import Event
from pghistory_admin.urls import page_urls
from pghistory_admin.views.base import AdminSurface


class EventBrowserAdmin(BaseEventAdmin):
    """Serves the history UI's pages at the admin URLs of the `Event` proxy.

    Register it on another admin site with `site.register(Event, EventBrowserAdmin)`. Like
    every event admin it adds, changes and deletes nothing.
    """

    def get_urls(self):
        return page_urls(AdminSurface(self), wrap=self.admin_site.admin_view)

    def has_module_permission(self, request):
        return bool(access.visible_models(request.user))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


admin.site.register(Event, EventBrowserAdmin)
