from django.contrib import admin
from django.urls import include, path

from tests import views
from tests.customising.api import TokenHistorySite
from tests.customising.history import ShopHistorySite, shop_admin

urlpatterns = [
    path("admin/", admin.site.urls),
    path("history/", include("pghistory_admin.urls")),
    path("shop-admin/", shop_admin.urls),
    path("shop-history/", ShopHistorySite(name="shop_history").urls),
    path("token-history/", TokenHistorySite(name="token_history").urls),
    path("books/", views.write_book),
    path("books/as/<str:username>/", views.write_book_as),
    path("books/async/", views.awrite_book),
    path("nothing/", views.read_nothing),
]
