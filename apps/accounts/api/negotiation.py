"""Content negotiation with a shortcut for clients that accept anything.

API clients (scripts, the mobile apps, the benchmark) send no ``Accept`` header or
``*/*``. DRF's negotiation then parses that header and every renderer's media type on each
request only to pick the first renderer (JSON); the shortcut picks it directly, with the
same media type DRF returns. Any other header, or a ``?format=``, goes the full way.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

ANYTHING = ("", "*/*")


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            renderers
            and "*" not in renderers[0].media_type
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in ANYTHING
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
