"""Django Tasks API tasks for the tests: plain @task functions in an ordinary module, which the
live worker imports when it runs them (nothing lists this module anywhere)."""

from django_tasks import task


@task
def add(x, y):
    return x + y


class Refused(Exception):
    pass


@task
def refuse(reason):
    raise Refused(reason)


@task(takes_context=True, priority=40, queue_name="long")
def which_attempt(context, *, fail_first: bool = False):
    if fail_first and context.attempt == 1:
        raise Refused("the first attempt fails")
    return {"attempt": context.attempt, "id": context.task_result.id}


@task
async def add_later(x, y):
    return x + y
