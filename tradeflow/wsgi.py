"""WSGI entry point, for serving HTTP with a threaded WSGI server in production (daphne
keeps the WebSockets; see the README's deployment notes)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
application = get_wsgi_application()
