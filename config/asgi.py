"""The ASGI application: Django's handler, with its middleware and views run in one hop to a
shared pool of threads per request.

Under stock ASGI, Django runs every MiddlewareMixin middleware in async mode, which hands each
process_request and process_response to a thread with sync_to_async; a sync-only middleware
(WhiteNoise) and the sync DRF views add more hand-offs between the event loop and threads.
Profiled under load, those hand-offs cost more than the view. All our middleware and views are
sync, so this handler runs the whole chain synchronously in a single hand-off per request.

Stock ASGI also gives every request a thread of its own (asgiref's ThreadSensitiveContext):
started with the request, joined at its end, and alive for as long as the response lasts, so
each open SSE stream kept an idle thread (400 per process at 1,000 streams), and each request
paid for a thread start and join. Here the chain runs on a fixed pool of
DATABASE_POOL_MAX_SIZE threads, as a threaded WSGI server would, and the streaming responses
are iterated on the event loop with no thread. Django's request_started and request_finished
handlers then run on asgiref's one shared thread, not the request's: so the request's own
thread returns its database connections to the pool itself, as they would.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server borrows database connections from a pool (see DATABASE_POOL in settings).
os.environ.setdefault("DATABASE_POOL", "true")


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        # As many threads as pooled connections, so that no request thread waits for one.
        self._threads = ThreadPoolExecutor(
            max_workers=settings.DATABASE_POOL_MAX_SIZE, thread_name_prefix="request"
        )

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request):
        return await sync_to_async(self._respond, thread_sensitive=False, executor=self._threads)(request)

    def _respond(self, request):
        close_old_connections()
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


# As django.core.asgi.get_asgi_application does, with the handler above.
django.setup(set_prefix=False)
application = SyncChainASGIHandler()
