# The name of django-pghistory 3.9's last migration, which its users' migrations depend on.

from django.db import migrations

from pghistory.migrations import install_attach_context_func


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0006_delete_aggregateevent")]

    operations = [
        migrations.RunPython(install_attach_context_func, reverse_code=migrations.RunPython.noop)
    ]
