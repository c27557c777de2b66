"""The shop's clock (`example_project.shop.clock`): its `shop_clock.now()` function, and the
shop's own timestamps defaulting to `clock.now` (the moment `seed` replays, else the time)."""

import example_project.shop.clock
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_event_index_includes_time"),
    ]

    operations = [
        migrations.RunSQL(
            example_project.shop.clock.CREATE_SQL, example_project.shop.clock.DROP_SQL
        ),
        migrations.AlterField(
            model_name="customer",
            name="created_at",
            field=models.DateTimeField(
                default=example_project.shop.clock.now,
                editable=False,
                verbose_name="customer since",
            ),
        ),
        migrations.AlterField(
            model_name="customerevent",
            name="created_at",
            field=models.DateTimeField(
                default=example_project.shop.clock.now,
                editable=False,
                verbose_name="customer since",
            ),
        ),
        migrations.AlterField(
            model_name="order",
            name="placed_at",
            field=models.DateTimeField(
                db_index=True, default=example_project.shop.clock.now, verbose_name="placed at"
            ),
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="placed_at",
            field=models.DateTimeField(
                default=example_project.shop.clock.now, verbose_name="placed at"
            ),
        ),
    ]
