"""The database itself refuses notifications of an unknown type."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, transaction

from notifications.models import Notification
from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


@pytest.mark.parametrize("kind", ["bogus", "", "NEW_MESSAGE", "new message"])
def test_type_must_be_a_known_choice_on_insert(kind):
    with rejected("notifications_notification_type_valid"):
        NotificationFactory(type=kind)


@pytest.mark.parametrize("kind", ["bogus", "", "Account"])
def test_type_must_be_a_known_choice_on_update(kind):
    notification = NotificationFactory()
    with rejected("notifications_notification_type_valid"):
        Notification.objects.filter(pk=notification.pk).update(type=kind)


@pytest.mark.parametrize("kind", Notification.Type.values)
def test_every_type_is_accepted(kind):
    notification = NotificationFactory(type=kind)
    Notification.objects.filter(pk=notification.pk).update(type=kind)
