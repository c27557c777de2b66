"""Our side of the benchmarks: its settings, and the set-up its measuring processes share."""

import os


def setup(settings_module: str, *, triggers: bool = False) -> None:
    """Django with `settings_module` (a module of this package), its tables made or brought
    up to date (`benchapp` has no migrations: `--run-syncdb` makes its tables), and, with
    `triggers`, the triggers of models that have no migrations installed."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    if triggers:
        import pgtrigger

        pgtrigger.install()
