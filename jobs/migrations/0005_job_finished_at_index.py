from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it does not block writes to a big table.
    atomic = False

    dependencies = [("jobs", "0004_admin_filter_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="job",
            index=models.Index(
                condition=models.Q(finished_at__isnull=False), fields=["finished_at"], name="job_finished_at"
            ),
        ),
    ]
