"""Review forms: they parse what was typed; the rules (who, when, limits) are the services'.

The length limits come from the same settings the services check, so the browser's
``maxlength`` and the service agree; a rating that is not 1 to 5 is refused here with the
same message the service gives.
"""

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator

from reviews.models import FlagReason

STARS = [(stars, f"{stars} star{'s' if stars > 1 else ''}") for stars in range(5, 0, -1)]
RATING_MESSAGE = "Choose a rating from 1 to 5 stars."
DETAIL_FIELDS = {
    "rating_communication": "Communication",
    "rating_quality": "Item as described",
    "rating_delivery": "Delivery",
}


def _limit_length(field: forms.CharField, setting: str, what: str) -> None:
    """Cap ``field`` at the setting the service checks, with a message that says so."""
    limit = getattr(settings, setting)
    field.max_length = limit
    field.validators.append(MaxLengthValidator(limit))
    field.widget.attrs["maxlength"] = str(limit)
    field.error_messages["max_length"] = f"Keep the {what} to {limit} characters or fewer."


def _rating_field(*, required: bool, label: str) -> forms.TypedChoiceField:
    choices = STARS if required else [("", "Not rated"), *STARS]
    return forms.TypedChoiceField(
        label=label,
        choices=choices,
        coerce=int,
        required=required,
        empty_value=None,
        widget=forms.RadioSelect if required else forms.Select,
        error_messages={"required": RATING_MESSAGE, "invalid_choice": RATING_MESSAGE},
    )


class ReviewForm(forms.Form):
    """The overall rating, the optional detailed ratings, a title and a comment."""

    rating = _rating_field(required=True, label="Overall rating")
    rating_communication = _rating_field(required=False, label=DETAIL_FIELDS["rating_communication"])
    rating_quality = _rating_field(required=False, label=DETAIL_FIELDS["rating_quality"])
    rating_delivery = _rating_field(required=False, label=DETAIL_FIELDS["rating_delivery"])
    title = forms.CharField(label="Title (optional)", required=False, strip=True)
    comment = forms.CharField(
        label="Comment (optional)", required=False, strip=True, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, prefix_id: str = "review", **kwargs):
        super().__init__(*args, auto_id=f"{prefix_id}-%s", **kwargs)
        _limit_length(self.fields["title"], "REVIEW_TITLE_MAX_LENGTH", "title")
        _limit_length(self.fields["comment"], "REVIEW_COMMENT_MAX_LENGTH", "comment")

    @classmethod
    def for_review(cls, review, **kwargs) -> "ReviewForm":
        """The edit form, filled with the review as it stands."""
        initial = {name: getattr(review, name) for name in ("rating", *DETAIL_FIELDS, "title", "comment")}
        return cls(initial=initial, prefix_id="edit", **kwargs)


class ResponseForm(forms.Form):
    response = forms.CharField(
        label="Your public response", strip=True, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, auto_id="response-%s", **kwargs)
        _limit_length(self.fields["response"], "REVIEW_RESPONSE_MAX_LENGTH", "response")
        self.fields["response"].error_messages["required"] = "Write a response first."


class FlagForm(forms.Form):
    reason = forms.ChoiceField(
        choices=FlagReason.choices,
        error_messages={
            "required": "Choose why you are reporting this review.",
            "invalid_choice": "Choose why you are reporting this review from the list.",
        },
    )
    text = forms.CharField(required=False, strip=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _limit_length(self.fields["text"], "REVIEW_FLAG_TEXT_MAX_LENGTH", "report")
