"""The header badge is pushed live over the member's messaging socket (its user group)."""

import pytest
from asgiref.sync import sync_to_async

from notifications.models import NotificationType
from notifications.services import notification_mark_read, notify
from tests.channels import fresh_channel_layer as new_channel_layer
from tests.factories import UserFactory
from tests.messaging.test_consumers import close_socket_threads, first, run, socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    with new_channel_layer():
        yield
    close_socket_threads()


def test_each_page_socket_gets_the_new_count_after_commit():
    member, other = UserFactory(), UserFactory()

    async def scenario():
        page, other_page = await socket(member), await socket(other)
        for ws in (page, other_page):
            assert (await ws.connect())[0]
        note = await _notify(member, "a")
        await _notify(member, "b")
        counts = [
            (await first(page, "notifications"))["count"],
            (await first(page, "notifications"))["count"],
        ]
        await _read(note, member)
        counts.append((await first(page, "notifications"))["count"])
        assert await other_page.receive_nothing(timeout=0.3)  # nobody else hears of it
        for ws in (page, other_page):
            await ws.disconnect()
        return counts

    assert run(scenario) == [1, 2, 1]


async def _notify(user, key):
    return await sync_to_async(notify)(user=user, type=NotificationType.LISTING_SOLD, title="Sold", key=key)


async def _read(note, user):
    return await sync_to_async(notification_mark_read)(notification=note, reader=user)
