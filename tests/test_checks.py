"""System checks of the tracking core."""

from django.conf import settings
from django.core import checks
from django.test import override_settings

from pghistory.checks import check_makemigrations_keeps_history, check_pgtrigger_installed

WITHOUT_PGTRIGGER = [app for app in settings.INSTALLED_APPS if app != "pgtrigger"]


def test_missing_pgtrigger_app_is_reported():
    with override_settings(INSTALLED_APPS=WITHOUT_PGTRIGGER):
        errors = check_pgtrigger_installed(None)

    assert [(error.id, error.level) for error in errors] == [("pghistory.E001", checks.ERROR)]
    assert errors[0].msg == 'Add "pgtrigger" to settings.INSTALLED_APPS to use django-pghistory.'


def test_missing_pgtrigger_app_is_reported_by_the_check_framework():
    with override_settings(INSTALLED_APPS=WITHOUT_PGTRIGGER):
        errors = checks.run_checks(tags=[checks.Tags.compatibility])

    assert "pghistory.E001" in [error.id for error in errors]


def test_installed_pgtrigger_app_passes_the_check():
    assert check_pgtrigger_installed(None) == []


def test_the_test_project_passes_every_system_check():
    problems = [
        f"{message.id}: {message.msg}"
        for message in checks.run_checks(include_deployment_checks=False)
        if message.level >= checks.WARNING
    ]

    assert problems == []


# -- The history UI's History button ------------------------------------------------------------

UI_AFTER_THE_ADMIN = [app for app in settings.INSTALLED_APPS if app != "pghistory_admin"] + [
    "pghistory_admin"
]


def history_tab_warnings():
    return [error.id for error in checks.run_checks(tags=[checks.Tags.templates])]


def test_the_history_tab_check_passes_with_the_ui_above_the_admin():
    with override_settings(PGHISTORY_ADMIN_HISTORY_TAB=True):
        assert "pghistory_ui.W001" not in history_tab_warnings()


def test_the_history_tab_check_warns_with_the_ui_below_the_admin():
    with override_settings(INSTALLED_APPS=UI_AFTER_THE_ADMIN, PGHISTORY_ADMIN_HISTORY_TAB=True):
        assert "pghistory_ui.W001" in history_tab_warnings()
    with override_settings(INSTALLED_APPS=UI_AFTER_THE_ADMIN):
        assert "pghistory_ui.W001" not in history_tab_warnings()


def test_makemigrations_is_pghistorys():
    assert check_makemigrations_keeps_history(None) == []


def test_another_apps_makemigrations_above_pghistory_is_reported():
    apps = list(settings.INSTALLED_APPS)
    apps.insert(apps.index("pghistory"), "tests.other_makemigrations")
    with override_settings(INSTALLED_APPS=apps):
        (warning,) = check_makemigrations_keeps_history(None)

    assert (warning.id, warning.level) == ("pghistory.W002", checks.WARNING)
    assert warning.msg.startswith(
        "\"makemigrations\" is the tests.other_makemigrations app's, not pghistory's"
    )
    assert check_makemigrations_keeps_history(None) == []  # (and back)
