"""Settings of our side: this repository's pghistory and pghistory_admin, the example shop
(whose event tables the read benchmarks fill) and the write-benchmark app."""

import os
import sys
from pathlib import Path

import benchutil

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # example_project, and pghistory if it is not installed

SECRET_KEY = "pghistory-bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]

DATABASES = {"default": benchutil.django_database(os.environ["BENCH_DATABASE_URL"])}

INSTALLED_APPS = [
    "pghistory_admin",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pgtrigger",
    "pghistory",
    "django_filters",
    "django_tables2",
    "example_project.shop",
    "benchapp",
]
# The bench app has no migrations: its tables are made by `migrate --run-syncdb` and its
# triggers by `pgtrigger.install()`, so it follows the library as it is today.
MIGRATION_MODULES = {"benchapp": None}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ours.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "admin:login"
PGHISTORY_ADMIN_HISTORY_TAB = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
