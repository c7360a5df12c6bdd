"""Infrastructure shared by the project's apps: Redis clients, locks, the outbound-request guard,
raw-row loading, backoff, and the admin's and the API's base classes. It imports no app."""
