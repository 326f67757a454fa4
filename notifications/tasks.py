"""Notifications' jobs: the unread-message digest and the review-window reminder (periodic),
and the notification of a new message (queued by its hook). Thin: each calls one function
that is safe to run twice at once."""

from procrastinate.contrib.django import app

from notifications.digest import mail_unread_messages
from notifications.reminders import remind_review_window
from notifications.subscribers import new_message_notify


@app.periodic(cron="* * * * *")
@app.task(name="notifications.mail_unread_messages", queueing_lock="notifications.mail_unread_messages")
def mail_unread_messages_job(timestamp: int) -> int:
    """Every minute: mail the messages unread for ``MESSAGE_EMAIL_DELAY_MINUTES``, once
    (``notifications.digest``: skip-locked messages, each marked in the mail's transaction)."""
    return mail_unread_messages()


@app.periodic(cron="17 * * * *")
@app.task(name="notifications.remind_review_window", queueing_lock="notifications.remind_review_window")
def remind_review_window_job(timestamp: int) -> int:
    """Hourly: remind the parties whose review window closes within ``REVIEW_REMINDER_HOURS``
    (once each: ``notify``'s key)."""
    return remind_review_window()


@app.task(name="notifications.notify_new_message", retry=5)
def notify_new_message(*, message_id: str) -> None:
    """Tell the other participant of a new message (queued by the ``message_sent`` hook)."""
    new_message_notify(message_id=message_id)
