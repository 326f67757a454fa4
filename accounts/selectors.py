"""Reads for account pages.

accounts is below listings and reviews, so these read accounts' own tables only; the public
profile page composes them with the listings and reviews selectors in ``accounts.views``.
"""

from accounts.models import AccountStatus, User


def public_name(user: User) -> str:
    """The name shown to other people (``User.display_name``: the seller name, else the
    member's name, else "Marketplace member"); never any part of the email address."""
    return user.display_name


def user_for_profile(*, user_id, viewer) -> User | None:
    """The account behind ``/users/<id>/``; banned and deleted accounts exist only for staff.
    One query."""
    users = User.objects.all()
    if not (viewer.is_authenticated and viewer.is_staff):
        users = users.exclude(account_status=AccountStatus.BANNED).filter(deleted_at__isnull=True)
    return users.filter(pk=user_id).first()
