"""Settings of the example project.

The database is `devdb.database_url("pghistory_demo")`: `$DATABASE_URL` when it is set, else
the database `pghistory_demo` on the embedded Postgres in `.pgdata/` (started on first use).
Import with the repository root on `sys.path` (`manage.py` and `wsgi.py` put it there).
"""

import os

import dj_database_url

import devdb


def _env_flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "pghistory-demo-only-not-a-secret-never-use-in-production"
)
DEBUG = _env_flag("DJANGO_DEBUG", "")
ALLOWED_HOSTS = ["*"]

DATABASES = {
    "default": dj_database_url.parse(
        devdb.database_url("pghistory_demo"), engine="django.db.backends.postgresql"
    )
}

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
]

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

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "admin:login"

# The admin's "History" button of every tracked model opens its timeline.
PGHISTORY_ADMIN_HISTORY_TAB = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# The site serves its own static files (the admin's and the history UI's CSS and JS) from
# STATIC_URL, found where `collectstatic` would find them, whether DEBUG is on or off: so
# `manage.py runserver` (and `./run demo`, which runs it) shows the site with its styles. A
# deployment behind a web server collects them instead and sets DJANGO_SERVE_STATIC=0.
SERVE_STATIC = _env_flag("DJANGO_SERVE_STATIC", "1")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With DEBUG off, Django only mails errors; print them (and 4xx warnings) on the console too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
