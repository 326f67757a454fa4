"""Admin forms for the custom user model (email is the login; there is no username)."""

import uuid

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string

from accounts.models import User
from accounts.services import (
    SELLER_DISPLAY_NAME_MAX,
    STATUS_REASON_MAX_LENGTH,
    clean_seller_display_name,
    normalize_phone_number,
)
from marketplace.errors import ServiceError
from marketplace.images import CleanImage, clean_uploaded_image
from marketplace.mail import queue_email


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

    def clean_avatar(self):
        """A staff upload goes through the same checks and re-encoding as the member's own
        (``clean_avatar_upload``): no EXIF or GPS kept, every image mode converted."""
        value = self.cleaned_data.get("avatar")
        if not isinstance(value, UploadedFile):
            return value  # unchanged, or False to clear
        clean = clean_avatar_upload(value)
        return ContentFile(clean.content, name=f"{uuid.uuid4().hex}.{clean.extension}")


def clean_avatar_upload(upload: UploadedFile) -> CleanImage:
    """The one avatar pipeline (profile page and admin): ``ValidationError`` when refused."""
    return clean_uploaded_image(
        upload,
        max_bytes=settings.AVATAR_MAX_UPLOAD_BYTES,
        max_pixels=settings.AVATAR_MAX_PIXELS,
        max_side=settings.AVATAR_SIZE,
    )


# --- Forms of the website -----------------------------------------------------------------


class SignupForm(auth_forms.BaseUserCreationForm):
    """Email, password twice (run through AUTH_PASSWORD_VALIDATORS) and optional names.

    The view hands the cleaned data to ``accounts.services.user_signup``; ``save()`` is not
    used, so the form never writes. It never says that an address already has an account
    (that would tell anyone which addresses do): ``user_signup`` emails the owner instead.
    """

    password1, password2 = auth_forms.SetPasswordMixin.create_password_fields(
        label1="Password", label2="Confirm password"
    )

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")
        field_classes = {"email": forms.EmailField}
        labels = {
            "email": "Email",
            "first_name": "First name (optional)",
            "last_name": "Last name (optional)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update({"autocomplete": "email"})
        self.fields["first_name"].widget.attrs.update({"autocomplete": "given-name"})
        self.fields["last_name"].widget.attrs.update({"autocomplete": "family-name"})

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data.get("email", "").strip())

    def _get_validation_exclusions(self):
        # The model's case-insensitive unique constraint on the address must not speak here
        # ("Constraint ... is violated" would tell): uniqueness is the service's.
        return super()._get_validation_exclusions() | {"email"}


class LoginForm(auth_forms.AuthenticationForm):
    """Log in by email, case-insensitively (``UserManager.get_by_natural_key``); banned
    accounts get a clear refusal once their password is proved."""

    error_messages = {
        "invalid_login": "The email address or password is incorrect.",
        "inactive": "This account is inactive.",
        "banned": "This account has been banned.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        email = self.fields["username"]
        email.label = "Email"
        email.widget.input_type = "email"
        email.widget.attrs.update({"autocomplete": "email"})

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user.account_status == User.AccountStatus.BANNED:
            raise ValidationError(self.error_messages["banned"], code="banned")


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    """Banned accounts get no reset email (the page looks the same either way)."""

    def get_users(self, email):
        return (user for user in super().get_users(email) if user.account_status != User.AccountStatus.BANNED)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Queue the reset link (``marketplace.mail.queue_email``) instead of sending it in the
        request: a mail server that is down delays it, never fails the page."""
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        html = render_to_string(html_email_template_name, context) if html_email_template_name else ""
        text = render_to_string(email_template_name, context)
        queue_email(to=to_email, subject=subject, text=text, html=html)


class ProfileForm(forms.Form):
    """The public profile of the logged-in user. A plain form, not a ModelForm: invalid
    input never touches ``request.user``, even in memory."""

    first_name = forms.CharField(label="First name", max_length=100, required=False)
    last_name = forms.CharField(label="Last name", max_length=100, required=False)
    bio = forms.CharField(
        label="About you",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Shown on your public profile. At most 2,000 characters.",
    )
    avatar = forms.FileField(
        label="Profile photo",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        avatar = self.fields["avatar"]
        avatar.widget.initial_text = "Current photo"
        avatar.widget.clear_checkbox_label = "Remove photo"
        avatar.widget.input_text = "Replace with"
        avatar.help_text = (
            f"JPEG, PNG or WebP, up to {filesizeformat(settings.AVATAR_MAX_UPLOAD_BYTES)}. "
            "Location and camera details are removed."
        )

    def clean_avatar(self):
        """An uploaded file becomes a ``CleanImage``; ``False`` means "remove"; ``None`` keeps
        the current photo."""
        value = self.cleaned_data.get("avatar")
        if value is False:
            return False
        if not isinstance(value, UploadedFile):
            return None
        return clean_avatar_upload(value)


class EmailChangeForm(forms.Form):
    """A new login address, confirmed with the current password. Whether another account has
    the address is never said here: ``user_email_change`` emails that account's owner instead."""

    email = forms.EmailField(
        label="New email", max_length=255, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"].strip())
        if email == self.user.email:
            raise ValidationError("That is already your email address.", code="unchanged")
        return email

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("Your password was entered incorrectly.", code="password_incorrect")
        return password


class SellerOnboardingForm(forms.Form):
    """Seller details for "Start selling" (and their later edits).

    The rules live in ``accounts.services`` (``clean_seller_display_name``,
    ``normalize_phone_number``); the form runs them for field-level messages and hands the
    cleaned values to ``seller_onboard``, which checks them again.
    """

    display_name = forms.CharField(
        label="Seller name",
        max_length=200,  # the service gives the real limit its own message
        help_text="The name buyers see on your listings and your profile, 2 to 80 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    phone_number = forms.CharField(
        label="Phone number (optional)",
        max_length=40,
        required=False,
        help_text=(
            "International format, for example +44 20 7946 0958. Never shown to buyers. "
            "Changing it clears its verification."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["display_name"].widget.attrs["maxlength"] = SELLER_DISPLAY_NAME_MAX

    def clean_display_name(self) -> str:
        try:
            return clean_seller_display_name(self.cleaned_data["display_name"])
        except ServiceError as error:
            raise ValidationError(error.message, code=error.code) from None

    def clean_phone_number(self) -> str:
        try:
            return normalize_phone_number(self.cleaned_data["phone_number"])
        except ServiceError as error:
            raise ValidationError(error.message, code=error.code) from None


class AccountStatusReasonForm(forms.Form):
    """The reason staff give for suspending, banning or reinstating (admin, recorded)."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=STATUS_REASON_MAX_LENGTH,
        help_text="Required. Recorded with the change and shown in the account's status history.",
        error_messages={"required": "Give a reason: nothing was changed."},
    )
