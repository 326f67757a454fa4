import uuid

from django import forms
from django.conf import settings


class MessageForm(forms.Form):
    """A message typed on the page. ``client_id`` is generated when the form is rendered, so a
    double submit (or a resubmitted POST) stores the message once."""

    body = forms.CharField(
        label="Message",
        strip=False,  # the service strips and validates (the same rules as the socket)
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    client_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("client_id", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.fields["body"].widget.attrs["maxlength"] = settings.MESSAGE_MAX_CHARS

    @classmethod
    def fresh(cls, **kwargs) -> "MessageForm":
        return cls(initial={"client_id": uuid.uuid4()}, **kwargs)
