import logging

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments import webhooks
from payments.gateway import InvalidWebhook, verify_webhook

logger = logging.getLogger(__name__)


@csrf_exempt  # Stripe authenticates by signature, not by cookie
@require_POST
def stripe_webhook(request):
    try:
        event = verify_webhook(request.body, request.headers.get("Stripe-Signature"))
    except InvalidWebhook as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    try:
        outcome = webhooks.process_event(event)
    except Exception:
        # Rolled back with its event row: Stripe retries the delivery.
        logger.exception("Stripe event %s (%s) failed.", event["id"], event["type"])
        return HttpResponse("Processing failed.", status=500, content_type="text/plain")
    return JsonResponse({"received": True, "outcome": outcome})
