"""The shop's staff actions, under `shop/` (namespace `shop`)."""

from django.urls import path

from example_project.shop import views

app_name = "shop"

urlpatterns = [
    path("orders/new/", views.create_order, name="order-create"),
    path("orders/<int:pk>/status/", views.set_order_status, name="order-status"),
    path("orders/<int:pk>/cancel/", views.cancel_order, name="order-cancel"),
    path("orders/<int:pk>/delete/", views.delete_order, name="order-delete"),
    path("products/<int:pk>/restock/", views.restock_product, name="product-restock"),
    path("products/<int:pk>/tags/", views.tag_product, name="product-tags"),
    path("customers/<int:pk>/", views.edit_customer, name="customer-edit"),
]
