from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from marketplace.health import DOWN, OK, readiness


@never_cache
def healthz(request):
    """Liveness: the process answers. Touches neither the database nor Redis."""
    return JsonResponse({"status": OK})


@never_cache
def readyz(request):
    """Readiness: status and latency of each part (``marketplace.health``); 503 when a part
    named in ``HEALTH_REQUIRED`` is down. Failures say only their error's class here."""
    result = readiness()
    return JsonResponse(result.as_dict(details=False), status=503 if result.status == DOWN else 200)


@never_cache
def health(request):
    """The original check, kept for existing probes: PostgreSQL and Redis, 503 when either is
    down (``/readyz`` tells more)."""
    parts = {part.name: part.status for part in readiness().parts if part.name in ("database", "redis")}
    return JsonResponse(parts, status=200 if set(parts.values()) == {OK} else 503)
