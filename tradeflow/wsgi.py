"""WSGI entry point, for serving HTTP with a threaded WSGI server in production (daphne
keeps the WebSockets; see the README's deployment notes)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
django_wsgi_app = get_wsgi_application()

from tradeflow.ingest_stack import wsgi_application  # noqa: E402  (after Django's setup)

# the ingestion endpoints on their own middleware stack (tradeflow/ingest_stack.py)
application = wsgi_application(django_wsgi_app)
