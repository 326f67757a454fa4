"""Admin forms for the custom user model (email is the login; there is no username)."""

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError

from accounts.models import User


class CaseInsensitiveEmailMixin:
    """Email is unique case-insensitively (``UniqueConstraint(Upper("email"))``).

    Checking here gives the clash a message on the email field; without it the constraint
    would still refuse the row, but as an anonymous "constraint violated" error.
    """

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data.get("email", ""))
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("A user with this email address already exists.", code="unique")
        return email


class UserAdminCreationForm(CaseInsensitiveEmailMixin, auth_forms.AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)
        field_classes = {"email": forms.EmailField}


class UserAdminChangeForm(CaseInsensitiveEmailMixin, auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"email": forms.EmailField}
