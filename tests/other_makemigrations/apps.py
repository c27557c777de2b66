from django.apps import AppConfig


class OtherMakemigrationsConfig(AppConfig):
    name = "tests.other_makemigrations"
    label = "other_makemigrations"
