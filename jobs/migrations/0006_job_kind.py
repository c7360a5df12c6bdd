from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it does not block writes to a big table.
    # The column comes with a constant default, which PostgreSQL adds without rewriting the table.
    atomic = False

    dependencies = [("jobs", "0005_job_finished_at_index")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[("type", "Job type"), ("task", "Django task")], default="type", max_length=8
            ),
        ),
        AddIndexConcurrently(
            model_name="job",
            index=models.Index(
                condition=models.Q(kind="task"), fields=["-created_at"], name="job_task_created"
            ),
        ),
    ]
