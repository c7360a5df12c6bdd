"""Everything that changes a job, one module per concern. Views, tasks, the admin and manage.py
call these; nothing here imports them.

The job row is the source of truth. Every status change is a conditional UPDATE from the
statuses it may come from, so two actors racing (a cancel and a worker finishing, two
deliveries of one message) cannot both win.
"""
