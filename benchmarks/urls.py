"""The product's URLs plus ``/bench/baseline``: a plain Django JsonResponse view served by
the same process and middleware, the baseline of ``ingest_sierra_single``."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tradeflow.urls import urlpatterns as product


@csrf_exempt
def baseline(request):
    return JsonResponse({"status": "success"})


urlpatterns = [path("bench/baseline", baseline), *product]
