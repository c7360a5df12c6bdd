"""The API's shared parts: authentication, throttling, pagination, errors, owned viewsets."""
