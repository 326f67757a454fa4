"""Model helpers shared by every app."""

from collections.abc import Iterable, Sequence

from django.db import models
from django.db.models.base import ModelState
from django.db.models.functions import Now
from django.db.models.signals import post_init, pre_init


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


def loaded_instances(
    model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence], alias: str
) -> list:
    """Instances of ``model`` from ``rows`` of the columns ``names`` (attnames, in the model's
    field order), as the ORM's ``.only()`` loads them: the other fields deferred (read on
    access), each instance saved (``_state.adding`` false) in database ``alias``.

    ``Model.from_db`` runs ``Model.__init__`` per row, which walks every field of the model
    (9 µs a row for a listing: a fifth of a results page's time in Python). When nothing can
    tell the difference (no ``pre_init``/``post_init`` receiver for the model, and neither
    ``__init__`` nor ``from_db`` overridden) the values go straight into the instance's
    ``__dict__``, which is what ``__init__`` ends up with; otherwise ``from_db`` runs."""
    plain = (
        model.__init__ is models.Model.__init__
        and model.from_db.__func__ is models.Model.from_db.__func__
        and not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
    )
    if not plain:
        return [model.from_db(alias, names, row) for row in rows]
    instances = []
    new = model.__new__
    for row in rows:
        instance = new(model)
        instance.__dict__.update(zip(names, row, strict=True))
        instance._state = state = ModelState()
        state.adding, state.db = False, alias
        instances.append(instance)
    return instances
