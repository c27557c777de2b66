from django.db import migrations

from pghistory.migrations import install_attach_context_func


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0003_auto_20201023_1636")]

    operations = [
        migrations.RunPython(install_attach_context_func, reverse_code=migrations.RunPython.noop)
    ]
