"""Model helpers shared by every app."""

from django.db import models
from django.db.models.functions import Now


def choices_check(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    """A CHECK that backs a ``choices`` field: ``choices`` alone is not enforced by UPDATE."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=name)


def currency_check(field: str, name: str) -> models.CheckConstraint:
    """ISO-4217 shape (three capital letters); which codes are accepted is a setting."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__regex": r"^[A-Z]{3}$"}), name=name)


class CreatedAtField(models.DateTimeField):
    """``created_at TIMESTAMPTZ NOT NULL DEFAULT now()``: bulk COPY loads may omit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("db_default", Now())
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class UpdatedAtField(CreatedAtField):
    """Maintained by the ``set_updated_at`` trigger on every UPDATE of the row."""


class TriggerManagedFieldsMixin:
    """Columns kept by database triggers are never written back by a full ``save()``.

    A full save would overwrite a counter or rating with the stale value held in memory,
    losing concurrent increments. Saves of existing rows therefore list their fields,
    leaving out ``trigger_managed_fields``; call ``refresh_from_db()`` to read them.
    """

    trigger_managed_fields: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.trigger_managed_fields
            ]
        super().save(*args, **kwargs)
