"""The ASGI application: Django's handler, with its middleware and views run in one hop per
request to one of a fixed set of request threads.

Under stock ASGI, Django runs every MiddlewareMixin middleware in async mode, which hands each
process_request and process_response to a thread with sync_to_async; a sync-only middleware
(WhiteNoise) and the sync DRF views add more hand-offs between the event loop and threads.
Profiled under load, those hand-offs cost more than the view. All our middleware and views are
sync, so this handler runs the whole chain synchronously in a single hand-off per request.

Stock ASGI also gives every request a thread of its own (asgiref's ThreadSensitiveContext):
started with the request, joined at its end, and alive as long as the response, so each open
SSE stream kept an idle thread (1,009 threads for 1,000 streams) and each request paid for a
thread start and join. Here each request is given the least busy of DATABASE_POOL_MAX_SIZE
long-lived threads instead, and everything of it that must run on a thread (request_started,
the chain, the response's close and request_finished) runs on that one, as it would on its own
thread: its database connection goes back to the pool from the thread that used it. Streaming
responses are iterated on the event loop, with no thread.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from ops.logformat import log_context
from ops.requestid import request_id_from

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server borrows database connections from a pool (see DATABASE_POOL in settings).
os.environ.setdefault("DATABASE_POOL", "true")


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        # As many threads as pooled connections, so that no request thread waits for one.
        self._threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{number}")
            for number in range(settings.DATABASE_POOL_MAX_SIZE)
        ]
        self._requests = [0] * len(self._threads)  # in flight on each thread

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        index = min(range(len(self._threads)), key=self._requests.__getitem__)
        self._requests[index] += 1
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        try:
            # Every thread-sensitive call of the request (request_started, the chain, the
            # response's close and request_finished) runs on this one thread, as on stock ASGI.
            with log_context(request_id=request_id_from(sent)):
                async with ThreadSensitiveContext(executor=self._threads[index]):
                    await self.handle(scope, receive, send)
        finally:
            self._requests[index] -= 1

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


# As django.core.asgi.get_asgi_application does, with the handler above.
django.setup(set_prefix=False)
application = SyncChainASGIHandler()
