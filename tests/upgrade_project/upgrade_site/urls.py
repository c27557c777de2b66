from django.contrib import admin
from django.urls import path
from inventory import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("products/<str:code>/edit/", views.edit_product),
    path("products/<str:code>/notes/", views.add_note),
    path("products/<str:code>/ledger/", views.record_sale),
    path("products/<str:code>/", views.show_product),
]
