"""Every email leaves through :func:`queue_email`: a job, sent by the worker, with retries.

A mail server that is down delays mail (the job is retried with exponential backoff,
``EMAIL_SEND_ATTEMPTS`` runs ``EMAIL_RETRY_BASE_SECONDS * 2**n`` apart) and never fails the
page that caused it; the message itself is in the job's arguments (JSON), so nothing is lost
between retries.
"""

from marketplace.tasks import send_email


def queue_email(
    *, to: str, subject: str, text: str, html: str = "", headers: dict[str, str] | None = None
) -> None:
    """Queue one message to ``to`` (plain ``text``, optional ``html`` alternative, extra
    ``headers`` such as List-Unsubscribe); the sender is ``DEFAULT_FROM_EMAIL``.

    The job is written in the caller's transaction: call it inside the transaction of the
    change that causes the mail, and a rollback sends nothing. Outside a transaction it is
    committed at once. Raises only on a database error (the queue is PostgreSQL).
    """
    send_email.defer(to=to, subject=subject, text=text, html=html, headers=dict(headers or {}))
