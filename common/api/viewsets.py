"""Viewsets over the requesting user's own rows, for every app's API."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import viewsets
from rest_framework.exceptions import NotFound

ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def uuid_or_404(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound from None


class OwnedViewSet(viewsets.GenericViewSet):
    """The requesting user's own objects; anyone else's id is a 404, like a missing one."""

    model: type
    output_class: type

    def owned(self, user):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.model.objects.none()
        return self.owned(self.request.user)

    def owned_one(self, user, pk):
        return self.owned(user).filter(pk=pk).first()

    def get_object(self):
        found = self.owned_one(self.request.user, uuid_or_404(self.kwargs["pk"]))
        if found is None:
            raise NotFound
        return found

    def _output(self, one_or_many, many=False):
        return self.output_class(one_or_many, many=many, context={"request": self.request}).data
