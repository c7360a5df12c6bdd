from django.urls import path

from tutorial import views

urlpatterns = [
    path("tasks/", views.submit),
    path("tasks/<str:task_id>/", views.task_status),
]
