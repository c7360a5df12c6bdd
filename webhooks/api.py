from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from webhooks import selectors, services
from webhooks.models import WebhookDelivery


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="Verify the Webhook-Signature header of deliveries with this.")


class DeliveryFilters(serializers.Serializer):
    job = serializers.UUIDField(required=False, help_text="Only the attempts for this job.")


class DeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "job",
            "url",
            "attempt",
            "status_code",
            "duration_ms",
            "error",
            "delivered",
            "created_at",
        ]


class WebhookSecretView(APIView):
    """Your webhook signing secret, created the first time you ask."""

    @extend_schema(responses=SecretOutput)
    def get(self, request):
        return Response(SecretOutput({"secret": services.webhook_secret_get(user=request.user)}).data)


class WebhookSecretRotateView(APIView):
    """Replace your webhook secret. Deliveries from now on, retries included, use the new one."""

    @extend_schema(request=None, responses=SecretOutput)
    def post(self, request):
        return Response(SecretOutput({"secret": services.webhook_secret_rotate(user=request.user)}).data)


@extend_schema(parameters=[DeliveryFilters])
class WebhookDeliveryListView(generics.ListAPIView):
    """Every attempt to deliver your jobs' webhooks, newest first."""

    serializer_class = DeliveryOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return WebhookDelivery.objects.none()
        filters = DeliveryFilters(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.webhook_delivery_list(
            user=self.request.user, job_id=filters.validated_data.get("job")
        )
