# Built concurrently, as 0007_context_user_time is: a plain build would hold up every write
# in a context on a busy history.

import django.db.models.fields.json
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pghistory", "0008_attach_context"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="context",
            index=models.Index(
                django.db.models.fields.json.KeyTextTransform("parent", "metadata"),
                models.F("created_at"),
                models.F("id"),
                name="pgh_context_parent_time",
            ),
        ),
    ]
