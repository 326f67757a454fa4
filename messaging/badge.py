"""The header's unread badge cache key, shared by the services that change what it counts."""

from django.core.cache import cache

UNREAD_CACHE_KEY = "messaging:unread:{user_id}"


def unread_cache_forget(*user_ids) -> None:
    """Drop the cached header badge of ``user_ids`` (after commit: they have news)."""
    cache.delete_many([UNREAD_CACHE_KEY.format(user_id=user_id) for user_id in user_ids])
