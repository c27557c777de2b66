# Kept empty so that projects migrated with django-pghistory keep a valid migration graph.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pghistory", "0005_events_middlewareevents")]

    operations = []
