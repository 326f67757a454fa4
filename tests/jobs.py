"""Run the job queue inside a test: :func:`run_jobs`, :func:`queued_jobs`, :func:`make_jobs_due`.

Jobs are deferred through Django's connection, so in a ``django_db`` test they sit in the
test's transaction. :func:`run_jobs` runs Procrastinate's real worker (``wait=False``: it stops
once no job is due) in this process, on this thread's connection, so it sees those jobs and
everything the test wrote, and what the jobs write is rolled back with the test. Retries,
backoff, queueing locks and job statuses are Procrastinate's own; only the periodic deferrer is
left out (a test defers what it wants to run).

Usage (``committed_then_worked()`` wraps a block: its on-commit callbacks, then ``run_jobs()``)::

    from tests.jobs import make_jobs_due, queued_jobs, run_jobs

    def test_signup_mails_a_link(client, mailoutbox):
        client.post(...)
        assert [job["to"] for job in queued_jobs("marketplace.send_email")] == ["a@example.com"]
        assert run_jobs() == 1          # the send job ran (and deferred nothing else)
        assert len(mailoutbox) == 1

A job that failed and will be retried is ``todo`` with a ``scheduled_at`` in the future; in a
``django_db`` test PostgreSQL's ``now()`` is the start of the test's transaction, so it never
comes due by waiting: call :func:`make_jobs_due` then :func:`run_jobs` again. Works in
``transaction=True`` tests too (each job is then committed as the real worker would), and in
browser tests (Playwright's loop runs on the test's thread: the worker then runs on another
thread, which sees what the live server committed). A periodic job runs when the test defers
it: ``app.tasks["payments.release_escrow"].defer(timestamp=0)``. Jobs committed by a
transactional test are deleted after it (``tests/conftest.py``), so none leaks into the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import procrastinate
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, connections
from django.test import TestCase
from procrastinate import utils as procrastinate_utils
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector

JSON_TYPE_OIDS = {114, 3802}  # json, jsonb


class _TestConnector(DjangoConnector):
    """Django's connection loads JSON as text (Django decodes it in its fields); Procrastinate's
    worker expects the decoded value, as its own psycopg connector gives it."""

    def _dictfetch(self, cursor):
        columns = [(col.name, col.type_code in JSON_TYPE_OIDS) for col in cursor.description]
        for row in cursor.fetchall():
            yield {
                name: json.loads(value) if is_json and isinstance(value, str) else value
                for (name, is_json), value in zip(columns, row, strict=True)
            }


async def _on_this_thread(func, *args, **kwargs):
    # Procrastinate runs sync tasks in a pool thread (thread_sensitive=False): another
    # connection, which cannot see the test's uncommitted rows. Thread-sensitive under
    # async_to_sync runs them back on the test's thread and connection.
    return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)


def run_jobs(*, queues: list[str] | None = None) -> int:
    """Run every job that is due (and every job those jobs defer, if due) to completion, in
    this thread; return how many job runs there were (a failed run counts; its retry, if
    any, is scheduled later: see :func:`make_jobs_due`). A task's exception does not raise
    here: the job ends ``failed`` or is rescheduled, as in production."""
    app.perform_import_paths()
    # Same database connection and tasks, but a plain App: no periodic tasks (nothing deferred behind
    # the test's back) and no DB-cleanup middleware (it would close the test's connection).
    runner = procrastinate.App(connector=_TestConnector(alias=app.connector.alias))
    runner.tasks = app.tasks
    runs = 0

    async def count(call_next, context, worker):
        nonlocal runs
        runs += 1
        return await call_next()

    async def work() -> None:
        await runner.run_worker_async(
            wait=False,
            queues=queues,
            listen_notify=False,  # the Django connector cannot LISTEN
            install_signal_handlers=False,
            concurrency=1,
            delete_jobs="never",
            worker_middleware=[count],
            task_middleware=[],
        )

    def run() -> None:
        with mock.patch.object(procrastinate_utils, "sync_to_async", _on_this_thread):
            async_to_sync(work)()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run()
    else:
        # An event loop runs on this thread (Playwright's sync API): async_to_sync cannot run
        # here. Browser tests are transaction=True, so the jobs are committed and another
        # thread, with its own connection, sees them.
        errors: list[BaseException] = []

        def in_thread() -> None:
            try:
                run()
            except BaseException as error:  # noqa: BLE001 - re-raised on the test's thread
                errors.append(error)
            finally:
                connections.close_all()

        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
    return runs


def queued_jobs(task_name: str | None = None, *, status: str = "todo") -> list[dict[str, Any]]:
    """The arguments of the jobs of ``task_name`` (every task if None) in ``status``
    (``todo``, ``doing``, ``succeeded``, ``failed``, ``cancelled``, ``aborted``), oldest
    first; each dict also carries ``_task``, ``_attempts`` and ``_queueing_lock``."""
    sql = "SELECT task_name, args, attempts, queueing_lock FROM procrastinate_jobs WHERE status = %s"
    params: list[Any] = [status]
    if task_name is not None:
        sql += " AND task_name = %s"
        params.append(task_name)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY id", params)
        rows = cursor.fetchall()
    return [
        # Django's psycopg setup returns JSONB as text from a raw cursor.
        {
            **(json.loads(args) if isinstance(args, str) else args),
            "_task": name,
            "_attempts": attempts,
            "_queueing_lock": lock,
        }
        for name, args, attempts, lock in rows
    ]


def make_jobs_due() -> int:
    """Bring every scheduled ``todo`` job (a retry after backoff, a ``schedule_in`` job) to
    now, so the next :func:`run_jobs` runs it; return how many moved."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now()"
            " WHERE status = 'todo' AND scheduled_at > now()"
        )
        return cursor.rowcount


@contextlib.contextmanager
def committed_then_worked() -> Iterator[None]:
    """Run the block, then its on-commit callbacks (hooks; the test transaction never
    commits), then :func:`run_jobs`: what a committed request followed by the worker does."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield
    run_jobs()
