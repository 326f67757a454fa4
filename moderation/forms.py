from django import forms

from moderation.models import ReportReason
from moderation.services import REPORT_TEXT_MAX


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=ReportReason.choices, widget=forms.RadioSelect, label="What is wrong?")
    text = forms.CharField(
        required=False,
        max_length=REPORT_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Details",
        help_text="Optional, unless you chose “Something else”. Our team reads every report.",
    )
