"""Archive, report as spam, block; suspended and banned members (messaging/safety.py)."""

import re
import uuid

import pytest
from django.urls import reverse

from accounts.models import AccountStatus
from marketplace.errors import ErrorCode, ServiceError
from messaging.models import Conversation, ConversationArchive, ConversationReport, UserBlock
from messaging.safety import (
    conversation_archive,
    conversation_report_spam,
    conversation_unarchive,
    is_blocked,
    report_resolve,
    user_block,
    user_unblock,
)
from messaging.selectors import REMOVED_ACCOUNT_NAME, inbox_page, unread_count
from messaging.services import conversation_open, message_send
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread():
    listing = ListingFactory(title="Oak desk")
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    send(conversation, buyer, "Is it still available?")
    return conversation, buyer, listing.seller


def send(conversation, sender, body="Hello"):
    return message_send(conversation=conversation, sender=sender, body=body, client_id=uuid.uuid4())[0]


def tab(user, name="active") -> list:
    return [row.conversation.pk for row in inbox_page(user=user, filter=name).rows]


def state() -> tuple:
    return (
        sorted(ConversationArchive.objects.values_list("conversation_id", "user_id", "archived_at")),
        sorted(ConversationReport.objects.values_list("conversation_id", "reporter_id", "status")),
        sorted(UserBlock.objects.values_list("blocker_id", "blocked_id")),
        sorted(Conversation.objects.values_list("id", "status")),
    )


def refused(code, action):
    before = state()
    with pytest.raises(ServiceError) as caught:
        action()
    assert caught.value.code == code
    assert caught.value.message
    assert state() == before
    return caught.value


# --- Archive ---------------------------------------------------------------------------------------
def test_archive_is_per_participant_and_a_new_message_brings_it_back(thread):
    conversation, buyer, seller = thread
    conversation_archive(conversation=conversation, user=seller)
    assert tab(seller) == [] and tab(seller, "archived") == [conversation.pk]
    assert tab(buyer) == [conversation.pk] and tab(buyer, "archived") == []
    send(conversation, buyer, "Hello again?")
    assert tab(seller) == [conversation.pk] and tab(seller, "archived") == []


def test_unarchive_and_its_refusals(thread):
    conversation, buyer, seller = thread
    refused(ErrorCode.UNCHANGED, lambda: conversation_unarchive(conversation=conversation, user=seller))
    conversation_archive(conversation=conversation, user=seller)
    conversation_unarchive(conversation=conversation, user=seller)
    assert tab(seller) == [conversation.pk]
    stranger = UserFactory()
    refused(ErrorCode.NOT_FOUND, lambda: conversation_archive(conversation=conversation, user=stranger))
    refused(ErrorCode.NOT_FOUND, lambda: conversation_unarchive(conversation=conversation, user=stranger))


# --- Report ----------------------------------------------------------------------------------------
def test_report_moves_it_to_the_reporters_spam_folder_and_the_queue(thread):
    conversation, buyer, seller = thread
    report = conversation_report_spam(conversation=conversation, reporter=seller, note="  Fake buyer  ")
    assert (report.reported, report.note, report.status) == (buyer, "Fake buyer", "open")
    assert tab(seller) == [] and tab(seller, "archived") == [] and tab(seller, "spam") == [conversation.pk]
    assert tab(buyer) == [conversation.pk]  # the other participant is not told
    send(conversation, buyer, "Hello??")  # new messages do not bring it back, nor count as unread
    assert tab(seller) == [] and unread_count(seller) == 0


def test_report_refusals_change_nothing(thread, settings):
    conversation, buyer, seller = thread
    refused(
        ErrorCode.INVALID,
        lambda: conversation_report_spam(conversation=conversation, reporter=seller, note="x" * 1001),
    )
    refused(
        ErrorCode.NOT_FOUND,
        lambda: conversation_report_spam(conversation=conversation, reporter=UserFactory()),
    )
    conversation_report_spam(conversation=conversation, reporter=seller)
    error = refused(
        ErrorCode.ALREADY_REPORTED,
        lambda: conversation_report_spam(conversation=conversation, reporter=seller),
    )
    assert "already reported" in error.message


def test_reports_and_blocks_are_rate_limited(settings):
    settings.MESSAGE_SAFETY_ACTIONS_PER_HOUR = 2
    member = UserFactory()
    user_block(blocker=member, blocked=UserFactory())
    seller = SellerFactory()
    conversation, _ = conversation_open(buyer=member, seller=seller)
    conversation_report_spam(conversation=conversation, reporter=member)
    error = refused(ErrorCode.RATE_LIMITED, lambda: user_block(blocker=member, blocked=UserFactory()))
    assert "up to 2 times an hour" in error.message
    other, _ = conversation_open(buyer=member, seller=SellerFactory())
    refused(ErrorCode.RATE_LIMITED, lambda: conversation_report_spam(conversation=other, reporter=member))


def moderator():
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="moderate_conversation"))
    return UserFactory._meta.model.objects.get(pk=staff.pk)  # permission cache fresh


def test_deciding_a_report_needs_the_moderation_permission(thread):
    conversation, _, seller = thread
    report = conversation_report_spam(conversation=conversation, reporter=seller)
    for actor in (UserFactory(is_staff=True), UserFactory(), None):
        refused(
            ErrorCode.FORBIDDEN, lambda actor=actor: report_resolve(report=report, actor=actor, spam=True)
        )
    report.refresh_from_db()
    assert report.status == "open"


def test_staff_confirming_spam_moves_it_for_both_and_dismissing_leaves_it(thread):
    conversation, buyer, seller = thread
    staff = moderator()
    report = conversation_report_spam(conversation=conversation, reporter=seller)
    report_resolve(report=report, actor=staff, spam=True)
    report.refresh_from_db()
    assert (report.status, report.resolved_by) == ("spam", staff) and report.resolved_at
    assert tab(buyer) == [] and tab(buyer, "spam") == [conversation.pk]
    refused(ErrorCode.UNCHANGED, lambda: report_resolve(report=report, actor=staff, spam=False))

    other, _ = conversation_open(buyer=UserFactory(), seller=seller)
    send(other, other.buyer)
    dismissed = report_resolve(
        report=conversation_report_spam(conversation=other, reporter=seller), actor=staff, spam=False
    )
    assert dismissed.status == "dismissed"
    assert tab(other.buyer) == [other.pk]  # dismissed: the other participant keeps it
    assert other.pk in tab(seller, "spam")  # the reporter's own choice stands


def test_admin_queue_lists_open_reports_first_and_confirms(admin_client, thread):
    conversation, buyer, seller = thread
    older, _ = conversation_open(buyer=UserFactory(), seller=seller)
    decided = conversation_report_spam(conversation=older, reporter=seller)
    report_resolve(report=decided, actor=moderator(), spam=False)
    open_report = conversation_report_spam(conversation=conversation, reporter=seller)
    url = reverse("admin:messaging_conversationreport_changelist")
    response = admin_client.get(url)
    assert [row.pk for row in response.context["cl"].result_list] == [open_report.pk, decided.pk]
    response = admin_client.post(url, {"action": "confirm_spam", "_selected_action": [open_report.pk]})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == "spam"


# --- Block -----------------------------------------------------------------------------------------
def test_block_stops_messages_and_conversations_both_ways(thread):
    conversation, buyer, seller = thread
    user_block(blocker=seller, blocked=buyer)
    assert is_blocked(buyer, seller) and is_blocked(seller, buyer)
    for sender in (buyer, seller):
        with pytest.raises(ServiceError) as caught:
            send(conversation, sender)
        assert caught.value.code == ErrorCode.BLOCKED
    with pytest.raises(ServiceError) as caught:
        conversation_open(buyer=buyer, seller=seller)
    assert caught.value.code == ErrorCode.BLOCKED
    assert conversation.messages.count() == 1


def test_block_hides_the_conversation_from_the_blocker_only(thread, django_capture_on_commit_callbacks):
    conversation, buyer, seller = thread
    assert unread_count(seller) == 1  # now cached: the block must drop it
    with django_capture_on_commit_callbacks(execute=True):
        user_block(blocker=seller, blocked=buyer)
    assert all(tab(seller, name) == [] for name in ("active", "archived", "spam"))
    assert unread_count(seller) == 0
    assert tab(buyer) == [conversation.pk]
    with django_capture_on_commit_callbacks(execute=True):
        user_unblock(blocker=seller, blocked=buyer)
    assert tab(seller) == [conversation.pk] and unread_count(seller) == 1
    send(conversation, buyer, "Works again")


def test_block_refusals_change_nothing(thread):
    conversation, buyer, seller = thread
    refused(ErrorCode.OWN_ACCOUNT, lambda: user_block(blocker=buyer, blocked=buyer))
    refused(ErrorCode.UNCHANGED, lambda: user_unblock(blocker=buyer, blocked=seller))
    user_block(blocker=buyer, blocked=seller)
    refused(ErrorCode.UNCHANGED, lambda: user_block(blocker=buyer, blocked=seller))


# --- Suspended and banned members ------------------------------------------------------------------
def test_a_suspended_member_cannot_send(thread):
    conversation, buyer, seller = thread
    buyer.account_status = AccountStatus.SUSPENDED
    buyer.save(update_fields=["account_status"])
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer)
    assert caught.value.code == ErrorCode.ACCOUNT_SUSPENDED


def test_a_banned_members_conversations_are_hidden_from_them_and_show_a_removed_account(client, thread):
    conversation, buyer, seller = thread
    buyer.account_status = AccountStatus.BANNED
    buyer.save(update_fields=["account_status"])
    assert tab(buyer) == []
    client.force_login(seller)
    page = client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    assert REMOVED_ACCOUNT_NAME in page and buyer.display_name not in page
    inbox = client.get(reverse("messaging:inbox")).content.decode()
    assert REMOVED_ACCOUNT_NAME in inbox


# --- Pages -----------------------------------------------------------------------------------------
def test_the_buttons_work_without_javascript(client, thread):
    conversation, buyer, seller = thread
    client.force_login(seller)
    url = reverse("messaging:conversation", args=[conversation.pk])
    page = client.get(url).content.decode()
    for name in ("archive", "report", "block"):
        assert reverse(f"messaging:{name}", args=[conversation.pk]) in page
    assert client.post(reverse("messaging:archive", args=[conversation.pk])).status_code == 302
    assert reverse("messaging:unarchive", args=[conversation.pk]) in client.get(url).content.decode()
    assert client.post(reverse("messaging:unarchive", args=[conversation.pk]))["Location"] == url
    response = client.post(reverse("messaging:report", args=[conversation.pk]), {"note": "spam"}, follow=True)
    assert "reported" in response.content.decode()
    assert ConversationReport.objects.filter(reporter=seller, note="spam").exists()
    # Again: a clear message, nothing more stored.
    response = client.post(reverse("messaging:report", args=[conversation.pk]), follow=True)
    assert "already reported" in response.content.decode()
    assert ConversationReport.objects.count() == 1
    client.post(reverse("messaging:block", args=[conversation.pk]))
    assert UserBlock.objects.filter(blocker=seller, blocked=buyer).exists()
    blocked_page = client.get(reverse("messaging:blocked")).content.decode()
    assert buyer.display_name in blocked_page
    unblock = reverse("messaging:unblock", args=[buyer.pk])
    assert unblock in blocked_page
    assert client.post(unblock).status_code == 302
    assert not UserBlock.objects.exists()
    assert client.post(unblock).status_code == 404  # nothing to lift: as for an unknown member


def test_the_blocked_member_cannot_write_by_form(client, thread):
    conversation, buyer, seller = thread
    user_block(blocker=seller, blocked=buyer)
    client.force_login(buyer)
    url = reverse("messaging:conversation", args=[conversation.pk])
    page = client.get(url).content.decode()
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    response = client.post(url, {"body": "Hello?", "client_id": client_id})
    assert response.status_code == 400
    assert "cannot send messages to this member" in response.content.decode()
    assert conversation.messages.count() == 1


def test_a_rate_limited_block_answers_429(client, thread, settings):
    conversation, buyer, seller = thread
    settings.MESSAGE_SAFETY_ACTIONS_PER_HOUR = 0
    client.force_login(seller)
    response = client.post(reverse("messaging:block", args=[conversation.pk]))
    assert response.status_code == 429
    assert "times an hour" in response.content.decode()
    assert not UserBlock.objects.exists()


def test_staff_read_but_cannot_act_for_the_participants(client, thread):
    conversation, buyer, seller = thread
    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse("messaging:conversation", args=[conversation.pk])).status_code == 200
    for name in ("archive", "report", "block"):
        assert client.post(reverse(f"messaging:{name}", args=[conversation.pk])).status_code == 404
    assert state()[1:3] == ([], [])
