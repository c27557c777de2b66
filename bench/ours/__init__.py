"""Our side of the benchmarks: its settings, and the set-up its measuring processes share."""

import os
from pathlib import Path


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


def libraries() -> dict:
    """Where this process's `pghistory` and `pghistory_admin` come from: their modules, and
    the folders (links resolved) that Django's app-directories template loader and static
    finder read for `pghistory_admin` (in a checkout, links to the top-level templates/ and
    static/)."""
    from django.apps import apps

    import pghistory
    import pghistory_admin

    app = Path(apps.get_containing_app_config("pghistory_admin").path)
    return {
        "pghistory": pghistory.__file__,
        "pghistory_admin": pghistory_admin.__file__,
        "templates": str((app / "templates").resolve()),
        "static": str((app / "static").resolve()),
    }


def loaded_templates() -> dict:
    """The files of the templates this process has loaded (links resolved), by template name,
    from the cached template loader (on whenever DEBUG is off)."""
    from django.template import engines
    from django.template.loaders.cached import Loader

    loaded = {}
    for loader in engines["django"].engine.template_loaders:
        if not isinstance(loader, Loader):
            continue
        for template in loader.get_template_cache.values():
            origin = getattr(template, "origin", None)  # (misses are cached as exceptions)
            if origin is not None:
                loaded[origin.template_name] = str(Path(origin.name).resolve())
    return loaded
