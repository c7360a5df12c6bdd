# Included under /api/ by config/urls.py.
from django.urls import path

from webhooks.api import WebhookDeliveryListView, WebhookSecretRotateView, WebhookSecretView

urlpatterns = [
    path("webhooks/secret/", WebhookSecretView.as_view(), name="webhook-secret"),
    path("webhooks/secret/rotate/", WebhookSecretRotateView.as_view(), name="webhook-secret-rotate"),
    path("webhooks/deliveries/", WebhookDeliveryListView.as_view(), name="webhook-delivery-list"),
]
