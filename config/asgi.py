"""The ASGI application: Django's handler with its middleware and views run in one thread per request.

Under stock ASGI, Django runs every MiddlewareMixin middleware in async mode, which hands each
process_request and process_response to a thread with sync_to_async; a sync-only middleware
(WhiteNoise) and the sync DRF views add more hand-offs between the event loop and threads.
Profiled under load, those hand-offs cost more than the view. All our middleware and views are
sync, so this handler runs the whole chain synchronously in a single hand-off per request.
Streaming responses (SSE) are still iterated on the event loop by the ASGI handler, so an
open stream holds no thread.
"""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server borrows database connections from a pool (see DATABASE_POOL in settings).
os.environ.setdefault("DATABASE_POOL", "true")


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


# As django.core.asgi.get_asgi_application does, with the handler above.
django.setup(set_prefix=False)
application = SyncChainASGIHandler()
