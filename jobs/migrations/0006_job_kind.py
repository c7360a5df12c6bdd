from django.db import migrations, models


class Migration(migrations.Migration):
    # A database default, kept: during a rolling deploy the pods on the code before this one
    # insert jobs without the column, and must not break. PostgreSQL adds a column with a
    # constant default without rewriting the table.
    dependencies = [("jobs", "0005_job_finished_at_index")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[("type", "Job type"), ("task", "Django task")],
                db_default="type",
                default="type",
                max_length=8,
            ),
        ),
    ]
