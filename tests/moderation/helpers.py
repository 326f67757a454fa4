"""Staff members of each group, for the moderation tests."""

import importlib

from django.apps import apps
from django.contrib.auth.models import Group

from accounts.models import User
from tests.factories import UserFactory

GROUPS = ("Support", "Moderator", "Finance")


def ensure_groups() -> None:
    """The groups of the data migration. A ``transaction=True`` test elsewhere flushes the
    database (TRUNCATE), rows written by migrations included: create them again, with the
    migration's own function, when they are gone."""
    if Group.objects.filter(name__in=GROUPS).count() < len(GROUPS):
        migration = importlib.import_module("moderation.migrations.0002_staff_groups")
        migration.create_groups(apps, None)


def staff_in(group: str | None, **kwargs) -> User:
    """An active staff member in ``group`` (None: staff with no group), fresh from the
    database so its permission cache is empty."""
    ensure_groups()
    user = UserFactory(is_staff=True, **kwargs)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return User.objects.get(pk=user.pk)
