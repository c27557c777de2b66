"""URLs of the example project: the admin, the standalone history UI and the shop's actions."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("history/", include("pghistory_admin.urls")),
    path("shop/", include("example_project.shop.urls")),
]
