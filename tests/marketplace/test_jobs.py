"""The job queue: transactional enqueueing, the email job's retries, the test runner itself."""

import smtplib

import pytest
from django.core.mail.backends import locmem
from django.db import connection, transaction
from django.urls import reverse

from marketplace.mail import queue_email
from tests.factories import UserFactory
from tests.jobs import make_jobs_due, queued_jobs, run_jobs

pytestmark = pytest.mark.django_db

SEND = "marketplace.send_email"


class Boom(Exception):
    pass


def test_a_job_deferred_in_a_rolled_back_transaction_never_runs(mailoutbox):
    with pytest.raises(Boom), transaction.atomic():
        queue_email(to="lost@example.com", subject="Never", text="rolled back")
        assert len(queued_jobs(SEND)) == 1
        raise Boom

    assert queued_jobs(SEND) == []
    assert run_jobs() == 0
    assert mailoutbox == []


def test_a_committed_job_runs_once_and_sends_its_message(mailoutbox):
    with transaction.atomic():
        queue_email(
            to="buyer@example.com",
            subject="Your receipt",
            text="plain body",
            html="<p>html body</p>",
            headers={"List-Unsubscribe": "<https://example.com/u/x>"},
        )
    assert mailoutbox == []  # nothing is sent inside the request
    [job] = queued_jobs(SEND)
    assert job["to"] == "buyer@example.com" and job["html"] == "<p>html body</p>"

    assert run_jobs() == 1
    assert run_jobs() == 0  # done: not run again

    [message] = mailoutbox
    assert message.to == ["buyer@example.com"]
    assert message.subject == "Your receipt"
    assert message.body == "plain body"
    assert message.alternatives[0].content == "<p>html body</p>"
    assert message.extra_headers["List-Unsubscribe"] == "<https://example.com/u/x>"
    assert queued_jobs(SEND) == []
    assert len(queued_jobs(SEND, status="succeeded")) == 1


def test_an_email_job_retries_after_a_failing_mail_backend_then_sends_exactly_once(
    settings, mailoutbox, monkeypatch
):
    settings.EMAIL_SEND_ATTEMPTS = 5
    settings.EMAIL_RETRY_BASE_SECONDS = 30
    failures = []
    real_send = locmem.EmailBackend.send_messages

    def down_twice(self, messages):
        if len(failures) < 2:
            failures.append(1)
            raise smtplib.SMTPServerDisconnected("mail server down")
        return real_send(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", down_twice)
    queue_email(to="seller@example.com", subject="Sold", text="You sold it")

    assert run_jobs() == 1  # first run fails: rescheduled with backoff, not due yet
    assert mailoutbox == []
    [job] = queued_jobs(SEND)
    assert job["_attempts"] == 1
    assert run_jobs() == 0  # backing off

    assert make_jobs_due() == 1
    assert run_jobs() == 1  # second failure
    assert mailoutbox == []
    assert make_jobs_due() == 1
    assert run_jobs() == 1  # the server is back

    assert [m.subject for m in mailoutbox] == ["Sold"]
    assert make_jobs_due() == 0
    assert run_jobs() == 0
    assert len(mailoutbox) == 1
    [done] = queued_jobs(SEND, status="succeeded")
    assert done["_attempts"] == 3


def test_an_email_job_out_of_retries_is_failed_and_counted(settings, mailoutbox, monkeypatch):
    from marketplace.jobs import failed_job_count

    settings.EMAIL_SEND_ATTEMPTS = 2

    def down(self, messages):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", down)
    queue_email(to="x@example.com", subject="S", text="T")
    assert failed_job_count() == 0
    assert run_jobs() == 1
    make_jobs_due()
    assert run_jobs() == 1
    assert queued_jobs(SEND) == []
    [failed] = queued_jobs(SEND, status="failed")
    assert failed["to"] == "x@example.com"  # the message is kept for a retry from the admin
    assert failed_job_count() == 1
    assert mailoutbox == []


def fail_one_email(settings, monkeypatch) -> None:
    settings.EMAIL_SEND_ATTEMPTS = 1

    def down(self, messages):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", down)
    queue_email(to="late@example.com", subject="Reset your password", text="https://x.example/reset/SECRET/")
    assert run_jobs() == 1
    monkeypatch.undo()


def test_staff_see_failed_jobs_without_the_email_body_and_retry_them(
    settings, monkeypatch, admin_client, mailoutbox
):
    fail_one_email(settings, monkeypatch)
    [failed] = queued_jobs(SEND, status="failed")
    url = reverse("admin:marketplace_queuedjob_changelist")

    page = admin_client.get(url, {"status": "failed"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "late@example.com" in html and "Reset your password" in html
    assert "SECRET" not in html  # a sign-in or reset link is never shown to staff
    [job] = page.context["cl"].result_list
    assert admin_client.get(reverse("admin:marketplace_queuedjob_change", args=[job.pk])).status_code == 200

    response = admin_client.post(url, {"action": "retry", "_selected_action": [job.pk]}, follow=True)
    assert "1 failed job(s) queued again." in response.content.decode()
    assert queued_jobs(SEND, status="failed") == []
    make_jobs_due()  # queued for "now" by Python's clock: later than the test transaction's now()
    assert run_jobs() == 1
    [message] = mailoutbox
    assert message.to == ["late@example.com"] and "SECRET" in message.body
    assert failed["to"] == "late@example.com"


def test_job_health_figures(settings, monkeypatch):
    from marketplace.jobs import failed_job_count, worker_heartbeat_age

    assert worker_heartbeat_age() is None  # no worker registered in this test
    assert failed_job_count() == 0
    fail_one_email(settings, monkeypatch)
    assert failed_job_count() == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (clock_timestamp() - interval '42 s')"
        )
    assert 42 <= worker_heartbeat_age() < 60


def test_a_mail_server_that_is_down_never_fails_the_page(client, monkeypatch, mailoutbox):
    UserFactory(email="member@example.com")

    def down(self, messages):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", down)
    response = client.post(reverse("accounts:password_reset"), {"email": "member@example.com"})
    assert response.status_code == 302  # the page answers: the mail is only queued
    assert run_jobs() == 1  # the send fails, and is kept for a retry
    [job] = queued_jobs(SEND)
    assert (job["to"], job["_attempts"]) == ("member@example.com", 1)

    monkeypatch.undo()  # the server is back
    make_jobs_due()
    assert run_jobs() == 1
    assert [message.to for message in mailoutbox] == [["member@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_in_the_worker_a_job_deferred_by_a_jobs_code_joins_that_jobs_transaction():
    """The worker's connector writes its own queries through its pool, but a job deferred by
    task code (an email queued by a periodic job) goes through Django's connection: rolled
    back with the task's transaction, as in a request."""
    from asgiref.sync import async_to_sync, sync_to_async
    from procrastinate.contrib.django import app

    from marketplace.jobs import worker_connector

    def task_code():
        with pytest.raises(Boom), transaction.atomic():
            queue_email(to="rolled-back@example.com", subject="S", text="T")
            raise Boom
        with transaction.atomic():
            queue_email(to="committed@example.com", subject="S", text="T")

    async def in_the_worker():
        await connector.open_async()
        try:
            await sync_to_async(task_code)()
            assert await connector.execute_query_one_async("SELECT 1 AS one") == {"one": 1}  # its pool
        finally:
            await connector.close_async()

    connector = worker_connector()
    with app.replace_connector(connector):
        async_to_sync(in_the_worker)()
    assert [job["to"] for job in queued_jobs(SEND)] == ["committed@example.com"]


def test_the_jobs_admin_pages_have_no_inline_styles_with_jobs_listed(settings, monkeypatch, admin_client):
    from tests.marketplace.test_csp import assert_page_is_clean

    fail_one_email(settings, monkeypatch)
    queue_email(to="waiting@example.com", subject="S", text="T")
    [job, *_] = queued_jobs(SEND, status="failed")
    changelist = admin_client.get(reverse("admin:marketplace_queuedjob_changelist"))
    assert len(changelist.context["cl"].result_list) == 2
    assert "Failed" in changelist.content.decode()
    assert_page_is_clean(changelist, site_page=False)
    [failed] = changelist.context["cl"].queryset.filter(status="failed")
    assert_page_is_clean(
        admin_client.get(reverse("admin:marketplace_queuedjob_change", args=[failed.pk])), site_page=False
    )
    assert job["to"] == "late@example.com"
