from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from common.api.login import TokenLoginView
from jobs.api.views import JobTypeViewSet, JobViewSet, WorkflowViewSet

router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("job-types", JobTypeViewSet, basename="job-type")
router.register("workflows", WorkflowViewSet, basename="workflow")

urlpatterns = [
    path("", include(router.urls)),
    path("auth/token/", TokenLoginView.as_view(), name="auth-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
