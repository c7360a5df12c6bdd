"""Django's Tasks API (DEP 14) on this service: every enqueued task is a job in the ledger.

    TASKS = {"default": {"BACKEND": "jobs.tasks_api.backend.LedgerBackend"}}

backend.py enqueues and reads results; ledger.py maps jobs to Django's TaskResult; runner.py
runs a task on the Celery worker, as the job `jobs.django_task`. README: "Using Django's Tasks API".
"""
