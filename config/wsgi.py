import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server borrows database connections from a pool (see DATABASE_POOL in settings).
os.environ.setdefault("DATABASE_POOL", "true")
application = get_wsgi_application()
