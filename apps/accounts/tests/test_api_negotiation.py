import pytest
from django.test import RequestFactory
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from apps.accounts.api.negotiation import ContentNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/x", {}),
        ("/x", {"HTTP_ACCEPT": "*/*"}),
        ("/x", {"HTTP_ACCEPT": "application/json"}),
        ("/x", {"HTTP_ACCEPT": "application/json; indent=4"}),
        ("/x", {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}),
        ("/x?format=api", {}),
        ("/x?format=json", {"HTTP_ACCEPT": "*/*"}),
    ],
)
def test_it_picks_the_renderer_drf_picks(path, headers):
    def pick(negotiation):
        request = Request(RequestFactory().get(path, **headers))
        renderer, media_type = negotiation.select_renderer(request, RENDERERS)
        return type(renderer), media_type

    assert pick(ContentNegotiation()) == pick(DefaultContentNegotiation())


@pytest.mark.django_db
def test_it_answers_in_json_to_clients_that_accept_anything(client, settings):
    settings.ALLOW_ANONYMOUS_MARKET_DATA = False
    response = client.get("/api/v1/symbols/", HTTP_ACCEPT="*/*")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_authenticated"
