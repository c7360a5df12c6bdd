from django.dispatch import Signal

# Sent once a job reaches a terminal status (succeeded, failed, cancelled), after the
# transaction that recorded it has committed. Arguments: job_id, kind, status, workflow_id, callback_url.
job_finished = Signal()
