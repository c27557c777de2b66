# Built concurrently: on a busy history, a plain build would hold up every write in a context.

import django.db.models.fields.json
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pghistory", "0006_delete_aggregateevent"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="context",
            index=models.Index(
                django.db.models.fields.json.KeyTransform("user", "metadata"),
                models.F("created_at"),
                name="pgh_context_user_time",
            ),
        ),
    ]
