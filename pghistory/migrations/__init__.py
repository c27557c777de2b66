"""The tracking core's migrations: django-pghistory 3.9's names, 0001 to 0007, then ours."""


def install_attach_context_func(apps, schema_editor):
    """`RunPython` step that (re)installs `_pgh_attach_context()` as this package writes it."""
    from pghistory.models import Context

    Context.install_pgh_attach_context_func(using=schema_editor.connection.alias)
