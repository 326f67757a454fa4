"""The notification preferences form (one checkbox per type and channel)."""

from django import forms

from notifications.models import NotificationChannel
from notifications.preferences import preference_choices


def field_name(type: str, channel: str) -> str:
    return f"{type}__{channel}"


class PreferencesForm(forms.Form):
    """Every type a member may choose about, in the app and by email. An unticked box is a
    "no" (browsers send nothing for it), so the form stores every shown choice."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = preference_choices(user)
        for choice in self.choices:
            for channel, label, on in (
                (NotificationChannel.IN_APP, "In the app", choice.in_app),
                (NotificationChannel.EMAIL, "Email", choice.email),
            ):
                self.fields[field_name(choice.type, channel)] = forms.BooleanField(
                    label=f"{choice.label}: {label.lower()}", required=False, initial=on
                )

    def rows(self):
        """``(label, in-app field, email field)`` per type, for the template's table."""
        return [
            (
                choice.label,
                self[field_name(choice.type, NotificationChannel.IN_APP)],
                self[field_name(choice.type, NotificationChannel.EMAIL)],
            )
            for choice in self.choices
        ]

    def cleaned_choices(self) -> list[tuple[str, str, bool]]:
        return [
            (choice.type, channel, bool(self.cleaned_data[field_name(choice.type, channel)]))
            for choice in self.choices
            for channel in NotificationChannel.values
        ]
