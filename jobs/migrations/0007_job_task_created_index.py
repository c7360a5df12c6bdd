from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it does not block writes to a big table.
    # A migration of its own: if it fails, it can run again, without the column's migration.
    atomic = False

    dependencies = [("jobs", "0006_job_kind")]

    operations = [
        AddIndexConcurrently(
            model_name="job",
            index=models.Index(condition=models.Q(kind="task"), fields=["-created_at"], name="job_task_created"),
        ),
    ]
