"""Jobs of the ``marketplace`` layer: sending one email (``marketplace.mail.queue_email``), and
the probe that proves a worker runs periodic jobs."""

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from procrastinate.contrib.django import app

from marketplace.jobs import ExponentialBackoff


@app.task(
    name="marketplace.send_email",
    retry=ExponentialBackoff(attempts_setting="EMAIL_SEND_ATTEMPTS", base_setting="EMAIL_RETRY_BASE_SECONDS"),
)
def send_email(
    *, to: str, subject: str, text: str, html: str = "", headers: dict[str, str] | None = None
) -> None:
    """Send one message through ``EMAIL_BACKEND``; any failure (mail server down, refused)
    raises, and the queue runs the job again later with the same arguments."""
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers or {}
    )
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


PROBE_CACHE_KEY = "jobs:probe"


@app.task(name="marketplace.probe", queueing_lock="marketplace.probe")
def probe(timestamp: int = 0) -> int:
    """Record that a worker ran a periodic job (``cache[PROBE_CACHE_KEY]``: the tick's Unix
    time). Scheduled only when ``JOBS_PROBE_CRON`` is set: the test of the worker process."""
    cache.set(PROBE_CACHE_KEY, timestamp, 3600)
    return timestamp


if settings.JOBS_PROBE_CRON:
    app.periodic(cron=settings.JOBS_PROBE_CRON)(probe)


@app.periodic(cron="43 3 * * *")
@app.task(name="marketplace.clear_expired_sessions", queueing_lock="marketplace.clear_expired_sessions")
def clear_expired_sessions(timestamp: int = 0) -> None:
    """Delete expired sessions: they live in the database (cached_db, so a Redis restart logs
    nobody out) and nothing else removes them. The same as ``manage.py clearsessions``."""
    from importlib import import_module

    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
