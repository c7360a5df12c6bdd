from celery.result import AsyncResult
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from tutorial.tasks import noop


@api_view(["POST"])
def submit(request):
    task = noop.delay()
    return Response({"id": task.id}, status=status.HTTP_202_ACCEPTED)


@api_view(["GET"])
def task_status(request, task_id):
    result = AsyncResult(task_id)
    return Response({"id": task_id, "status": result.status, "result": result.result})
