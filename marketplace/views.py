from django.db import connection
from django.http import JsonResponse
from django_redis import get_redis_connection


def health(request):
    """Liveness for load balancers: both backing services answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    get_redis_connection("default").ping()
    return JsonResponse({"database": "ok", "redis": "ok"})
