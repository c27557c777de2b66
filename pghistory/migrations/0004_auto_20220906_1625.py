from django.db import migrations


def install_attach_context_func(apps, schema_editor):
    from pghistory.models import Context

    Context.install_pgh_attach_context_func(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0003_auto_20201023_1636")]

    operations = [
        migrations.RunPython(install_attach_context_func, reverse_code=migrations.RunPython.noop)
    ]
