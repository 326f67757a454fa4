"""Reads for account pages.

accounts is below listings and reviews, so these read accounts' own tables only; the public
profile page composes them with the listings and reviews selectors in ``accounts.views``.
"""

from accounts.models import AccountStatus, User


def public_name(user: User) -> str:
    """The name shown to other people: never derived from the email address (the model's
    ``display_name`` falls back to the address's local part, fine for the owner's own menu)."""
    return f"{user.first_name} {user.last_name}".strip() or "Marketplace member"


def user_for_profile(*, user_id, viewer) -> User | None:
    """The account behind ``/users/<id>/``; banned accounts exist only for staff. One query."""
    users = User.objects.all()
    if not (viewer.is_authenticated and viewer.is_staff):
        users = users.exclude(account_status=AccountStatus.BANNED)
    return users.filter(pk=user_id).first()
