"""URLs of the example project: the admin, the standalone history UI, the shop's actions and,
when `settings.SERVE_STATIC` says so, the static files."""

import re

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("history/", include("pghistory_admin.urls")),
    path("shop/", include("example_project.shop.urls")),
]

if getattr(settings, "SERVE_STATIC", False):
    # Django's `static()` helper adds nothing unless DEBUG is on; the demo runs with it off.
    prefix = re.escape(settings.STATIC_URL.lstrip("/"))
    urlpatterns.append(re_path(rf"^{prefix}(?P<path>.*)$", serve_static, {"insecure": True}))
