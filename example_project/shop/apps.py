"""The shop app."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "example_project.shop"
    label = "shop"
    verbose_name = "Shop"
    # Set here, not only in the project's settings, so that the migrations are the same
    # under any settings that install the app (the test suite's included).
    default_auto_field = "django.db.models.BigAutoField"
