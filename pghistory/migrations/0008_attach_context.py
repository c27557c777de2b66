# Joins the two 0007 migrations: django-pghistory 3.9's last one, which its projects have
# applied, and this package's first own one. Whichever a database had, it ends up with both
# and with this package's `_pgh_attach_context()`, which 3.9's may have left in place.

from django.db import migrations

from pghistory.migrations import install_attach_context_func


class Migration(migrations.Migration):
    dependencies = [
        ("pghistory", "0007_auto_20250421_0444"),
        ("pghistory", "0007_context_user_time"),
    ]

    operations = [
        migrations.RunPython(install_attach_context_func, reverse_code=migrations.RunPython.noop)
    ]
