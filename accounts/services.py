"""Account writes: sign-up, profile, email address and its verification, account status.

Every function raises ``ServiceError`` (a message safe to show) when a rule refuses it.
Emails are queued in the transaction of their change (``marketplace.mail.queue_email``), so
nobody is sent a link for a row that was rolled back.
"""

import logging
import re
import uuid

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import hooks
from accounts.models import AccountStatus, AccountStatusChange, User
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.images import CleanImage
from marketplace.mail import queue_email

logger = logging.getLogger(__name__)

EMAIL_TAKEN_MESSAGE = "A user with this email address already exists."
EMAIL_UNIQUE_CONSTRAINT = "accounts_user_email_ci_unique"
EMAIL_VERIFICATION_SALT = "accounts.email-verification"

BANNED_MESSAGE = "This account has been banned."
SUSPENDED_MESSAGE = (
    "Your account is suspended: you can browse, but you cannot buy, sell or send messages "
    "until it is reinstated."
)


def _email_taken(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == EMAIL_UNIQUE_CONSTRAINT


def _absolute(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}"


def _queue_mail(*, subject: str, template: str, context: dict, to: str) -> None:
    """Render ``template`` and queue it (a job, in the caller's transaction: a rolled-back
    change sends nothing; the worker sends it, retrying while the mail server is down)."""
    queue_email(to=to, subject=subject, text=render_to_string(template, context))


# --- Sign-up and profile ----------------------------------------------------------------


def user_signup(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    base_url: str,
    notify_owner: bool = True,
) -> User | None:
    """Create an account (email not yet verified) and send it a verification link; return it.

    When the address already belongs to an account (as the case-insensitive unique index
    decides, so two simultaneous sign-ups give one account and never a 500), nothing is
    created and None is returned: the owner is told by email that someone tried to sign up
    with their address (unless ``notify_owner`` is false: the caller's email budget for that
    address is spent). The caller must answer exactly as for a new account either way, or
    the sign-up page would tell strangers which addresses have accounts. The password is
    hashed in both cases, so both take as long.
    """
    email = User.objects.normalize_email(email.strip())
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, first_name=first_name.strip(), last_name=last_name.strip()
            )
    except IntegrityError as exc:
        if not _email_taken(exc):
            raise
        owner = User.objects.filter(email__iexact=email).first()
        if owner is not None and notify_owner:
            _queue_mail(
                subject="Someone tried to sign up with your email address",
                template="accounts/email/signup_attempt.txt",
                context={
                    "user": owner,
                    "login_url": _absolute(base_url, reverse("accounts:login")),
                    "reset_url": _absolute(base_url, reverse("accounts:password_reset")),
                },
                to=owner.email,
            )
        logger.info("sign-up with an existing address: %s", owner.pk if owner else None)
        return None
    email_verification_send(user=user, base_url=base_url)
    logger.info("account created: %s", user.pk)
    return user


def user_profile_update(
    *,
    user: User,
    first_name: str,
    last_name: str,
    bio: str,
    avatar: CleanImage | None = None,
    remove_avatar: bool = False,
) -> User:
    """Update the public profile; ``avatar`` is an already verified and re-encoded image.

    The new file is stored under a random name through the field's storage (the default
    storage); the previous file is deleted once the new name is committed.
    """
    with transaction.atomic():
        current = User.objects.select_for_update().only("avatar").get(pk=user.pk)
        old_name = current.avatar.name or ""
        user.first_name = first_name.strip()
        user.last_name = last_name.strip()
        user.bio = bio.strip()
        fields = ["first_name", "last_name", "bio"]
        new_name = None
        if avatar is not None:
            user.avatar.save(f"{uuid.uuid4().hex}.{avatar.extension}", avatar.as_file(), save=False)
            new_name = user.avatar.name
            fields.append("avatar")
        elif remove_avatar and old_name:
            user.avatar = ""
            fields.append("avatar")
        try:
            user.save(update_fields=fields)
        except Exception:
            if new_name:
                user.avatar.storage.delete(new_name)
            raise
        if "avatar" in fields and old_name:
            after_commit(user.avatar.storage.delete, old_name)
    return user


EMAIL_CHANGE_SALT = "accounts.email-change"


def _email_change_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=EMAIL_CHANGE_SALT)


def email_change_url(*, user: User, email: str, base_url: str) -> str:
    """The link that moves ``user`` to ``email``: signed, timestamped, naming the account, the
    address it had when asked (so a later change supersedes it) and the new one."""
    token = _email_change_signer().sign_object({"id": str(user.pk), "old": user.email.lower(), "new": email})
    return _absolute(base_url, reverse("accounts:email_change_confirm", kwargs={"token": token}))


def user_email_change(*, user: User, email: str, base_url: str) -> bool:
    """Ask to change the login address; return True if it changed at once.

    A change of letter case only (the same mailbox) happens at once and keeps verification.
    Any other address changes nothing yet: a link goes to the new address, and the change
    (verified, since the link was opened there) happens when it is opened
    (``user_email_change_confirm``). If the address belongs to another account, its owner is
    told instead; the caller answers exactly as for a free address, so the form never says
    which addresses have accounts.
    """
    email = User.objects.normalize_email(email.strip())
    if email == user.email:
        raise ServiceError("That is already your email address.", code=ErrorCode.UNCHANGED)
    if email.lower() == user.email.lower():
        with transaction.atomic():
            User.objects.select_for_update().only("pk").get(pk=user.pk)
            user.email = email
            try:
                with transaction.atomic():
                    user.save(update_fields=["email"])
            except IntegrityError as exc:  # pragma: no cover - the same row holds the address
                if _email_taken(exc):
                    raise ServiceError(EMAIL_TAKEN_MESSAGE, code=ErrorCode.EMAIL_TAKEN) from exc
                raise
        return True
    owner = User.objects.filter(email__iexact=email).exclude(pk=user.pk).first()
    if owner is not None:
        _queue_mail(
            subject="Someone tried to use your email address",
            template="accounts/email/email_change_attempt.txt",
            context={"user": owner, "reset_url": _absolute(base_url, reverse("accounts:password_reset"))},
            to=owner.email,
        )
        return False
    max_age_hours = settings.EMAIL_VERIFICATION_MAX_AGE // 3600
    _queue_mail(
        subject="Confirm your new email address",
        template="accounts/email/email_change_confirm.txt",
        context={
            "user": user,
            "new_email": email,
            "confirm_url": email_change_url(user=user, email=email, base_url=base_url),
            "expires_in": f"{max_age_hours // 24} days" if max_age_hours >= 48 else f"{max_age_hours} hours",
        },
        to=email,
    )
    return False


def user_email_change_confirm(*, token: str) -> User:
    """Move the account to the address of an email-change link, verified (the link was opened
    from that mailbox), and tell the old address. Locks the user row. A tampered, expired or
    superseded link, or an address taken since, raises ``ServiceError`` and changes nothing;
    a second visit after the change is a no-op."""
    invalid = ServiceError(
        "This link is not valid. Check that you opened the whole link from the email, or ask for a new one.",
        code=ErrorCode.INVALID,
    )
    try:
        payload = _email_change_signer().unsign_object(token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ServiceError(
            "This link has expired. Log in and change your email address again.", code=ErrorCode.EXPIRED
        ) from None
    except (signing.BadSignature, ValueError):
        raise invalid from None
    if not isinstance(payload, dict) or not isinstance(payload.get("new"), str):
        raise invalid
    try:
        user_id = uuid.UUID(str(payload.get("id")))
    except ValueError:
        raise invalid from None
    new_email = payload["new"]
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or user.account_status == AccountStatus.BANNED:
            raise invalid
        if user.email == new_email and user.email_verified_at is not None:
            return user
        old_email = user.email
        if old_email.lower() != payload.get("old"):
            raise ServiceError(
                "This link was sent before a later change of this account's email address. Use "
                "the link in the newest email.",
                code=ErrorCode.SUPERSEDED,
            )
        user.email = new_email
        user.email_verified_at = timezone.now()
        try:
            with transaction.atomic():
                user.save(update_fields=["email", "email_verified_at"])
        except IntegrityError as exc:
            if _email_taken(exc):
                raise ServiceError(
                    "This address now belongs to another account, so it cannot be yours as well. "
                    "Nothing was changed.",
                    code=ErrorCode.EMAIL_TAKEN,
                ) from exc
            raise
        _queue_mail(
            subject="Your email address was changed",
            template="accounts/email/email_changed.txt",
            context={"user": user, "old_email": old_email, "new_email": new_email},
            to=old_email,
        )
    logger.info("email changed: %s", user.pk)
    return user


# --- Email verification -------------------------------------------------------------------


def _verification_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=EMAIL_VERIFICATION_SALT)


def email_verification_token(*, user: User) -> str:
    """A signed, timestamped token naming the account and the address it was sent to: a
    link for an earlier address stops working once the address changes."""
    return _verification_signer().sign_object({"id": str(user.pk), "email": user.email.lower()})


def email_verification_url(*, user: User, base_url: str) -> str:
    token = email_verification_token(user=user)
    return _absolute(base_url, reverse("accounts:verify_email", kwargs={"token": token}))


def email_verification_send(*, user: User, base_url: str) -> None:
    max_age_hours = settings.EMAIL_VERIFICATION_MAX_AGE // 3600
    _queue_mail(
        subject="Confirm your email address",
        template="accounts/email/verify_email.txt",
        context={
            "user": user,
            "verify_url": email_verification_url(user=user, base_url=base_url),
            "expires_in": f"{max_age_hours // 24} days" if max_age_hours >= 48 else f"{max_age_hours} hours",
        },
        to=user.email,
    )


def user_verify_email(*, token: str) -> tuple[User, bool]:
    """Mark the address of a verification link as verified; return (user, newly verified).

    Idempotent: a second visit changes nothing. A tampered, expired or superseded link
    raises ``ServiceError`` and changes nothing.
    """
    invalid = ServiceError(
        "This verification link is not valid. Check that you opened the whole link from the "
        "email, or ask for a new one.",
        code=ErrorCode.INVALID,
    )
    try:
        payload = _verification_signer().unsign_object(token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ServiceError(
            "This verification link has expired. Log in and ask for a new one.", code=ErrorCode.EXPIRED
        ) from None
    except (signing.BadSignature, ValueError):
        raise invalid from None
    if not isinstance(payload, dict):
        raise invalid
    try:
        user_id = uuid.UUID(str(payload.get("id")))
    except ValueError:
        raise invalid from None
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or user.account_status == AccountStatus.BANNED:
            raise invalid
        if user.email.lower() != payload.get("email"):
            raise ServiceError(
                "This link was sent to an earlier email address of this account. Use the link "
                "in the newest email, or ask for a new one.",
                code=ErrorCode.SUPERSEDED,
            )
        if user.email_verified_at is not None:
            return user, False
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    logger.info("email verified: %s", user.pk)
    return user, True


# --- Staff ----------------------------------------------------------------------------------
STAFF_REASON_MAX_LENGTH = 2000
STATUS_REASON_MAX_LENGTH = STAFF_REASON_MAX_LENGTH


def ensure_staff_permission(actor, permission: str, what: str) -> None:
    """Raise ``ServiceError`` (``forbidden``) unless ``actor`` is active staff holding
    ``permission`` (``"app.codename"``; a superuser holds every one). ``what`` completes
    "Only staff with the permission to ... can do this." The one check of every staff
    service, so the admin and any other caller are refused alike."""
    if not (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.is_staff
        and actor.is_active
        and actor.has_perm(permission)
    ):
        raise ServiceError(f"Only staff with the permission to {what} can do this.", code=ErrorCode.FORBIDDEN)


def clean_staff_reason(reason) -> str:
    """The reason a staff action requires: stripped, not empty, at most
    ``STAFF_REASON_MAX_LENGTH`` characters; otherwise ``ServiceError``."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ServiceError(
            "Give a reason: it is recorded with the change and shown to other staff.",
            code=ErrorCode.INCOMPLETE,
        )
    if len(reason) > STAFF_REASON_MAX_LENGTH:
        raise ServiceError(
            f"Keep the reason under {STAFF_REASON_MAX_LENGTH} characters.", code=ErrorCode.INVALID
        )
    return reason


# --- Account status -----------------------------------------------------------------------


MODERATE_USER_PERMISSION = "accounts.moderate_user"
VERIFY_USER_PERMISSION = "accounts.verify_user"


def _account_status_set(*, user: User, actor: User, status: AccountStatus, reason: str) -> User:
    """Move ``user`` to ``status`` and record who did it and why (an ``AccountStatusChange``
    for the account's history and one audit row).

    Staff with ``accounts.moderate_user`` only; nobody changes their own, and only a superuser
    changes a staff account's. ``reason`` is required (stripped, at most
    ``STATUS_REASON_MAX_LENGTH`` characters); an account already in ``status`` is refused
    (``unchanged``) so a bulk admin action can say which rows it skipped. Locks the user row;
    once committed, ``hooks.user_status_changed`` tells the higher apps (listings retires the
    seller's cached pages).
    """
    ensure_staff_permission(actor, MODERATE_USER_PERMISSION, "suspend, ban or reinstate accounts")
    if actor.pk == user.pk:
        raise ServiceError("You cannot change the status of your own account.", code=ErrorCode.OWN_ACCOUNT)
    reason = clean_staff_reason(reason)
    with transaction.atomic():
        locked = User.objects.select_for_update().only("account_status", "is_staff", "email").get(pk=user.pk)
        if locked.is_staff and not actor.is_superuser:
            raise ServiceError(
                "Only a superuser can change the status of a staff account.", code=ErrorCode.FORBIDDEN
            )
        previous = locked.account_status
        if previous == status:
            raise ServiceError(f"This account is already {status.label.lower()}.", code=ErrorCode.UNCHANGED)
        locked.account_status = status
        locked.save(update_fields=["account_status"])
        AccountStatusChange.objects.create(
            user=locked, actor=actor, from_status=previous, to_status=status, reason=reason
        )
        verb = {AccountStatus.BANNED: "ban", AccountStatus.SUSPENDED: "suspend"}.get(status, "reinstate")
        audit_record(
            actor=actor,
            action=f"accounts.{verb}",
            target=locked,
            reason=reason,
            changes={"account_status": (previous, status.value)},
        )
        after_commit(hooks.user_status_changed, user.pk, previous, status.value)
    user.account_status = status
    logger.info("account %s: %s -> %s by %s", user.pk, previous, status, actor.pk)
    return user


BADGES = {"seller_verified": "seller_verified_at", "kyc_verified": "kyc_verified_at"}


def user_badge_set(*, user: User, actor: User, badge: str, verified: bool, reason: str) -> User:
    """Grant (``verified``) or withdraw a badge: ``"seller_verified"`` or ``"kyc_verified"``.

    Staff with ``accounts.verify_user``; ``reason`` required; one audit row. Granting a badge
    the account has, or withdrawing one it lacks, raises ``unchanged``. Locks the user row;
    the seller's cached pages are retired (the badge shows on them) through
    ``hooks.user_status_changed``'s sibling ``hooks.user_badges_changed``.
    """
    ensure_staff_permission(actor, VERIFY_USER_PERMISSION, "verify sellers")
    field = BADGES.get(badge)
    if field is None:
        raise ServiceError(f"Unknown badge: choose one of {', '.join(BADGES)}.", code=ErrorCode.INVALID)
    reason = clean_staff_reason(reason)
    with transaction.atomic():
        locked = User.objects.select_for_update().only(field, "email").get(pk=user.pk)
        before = getattr(locked, field)
        if (before is not None) == verified:
            state = "already has" if verified else "does not have"
            raise ServiceError(f"This account {state} that badge.", code=ErrorCode.UNCHANGED)
        after = timezone.now() if verified else None
        setattr(locked, field, after)
        locked.save(update_fields=[field])
        audit_record(
            actor=actor,
            action=f"accounts.{'grant' if verified else 'withdraw'}_{badge}",
            target=locked,
            reason=reason,
            changes={field: (before, after)},
        )
        after_commit(hooks.user_badges_changed, user.pk)
    setattr(user, field, after)
    return user


def user_ban(*, user: User, actor: User, reason: str) -> User:
    """Ban: the account cannot log in, and ``AccountStatusMiddleware`` ends its sessions on
    their next request (they live in Redis, keyed by session, so they cannot be listed per
    user). Its listings leave public pages through ``public_listings`` at once: a database
    trigger sets their ``seller_banned`` flag in the same transaction (row locks on the
    seller's listings until commit), and the cached pages are retired by listings'
    subscriber to ``user_status_changed``.

    ``is_active`` is left alone: ``account_status`` is the one source of truth, and with
    ``is_active=False`` Django's backend would refuse the login before the form could say
    why. Reinstating therefore restores exactly what was there.
    """
    return _account_status_set(user=user, actor=actor, status=AccountStatus.BANNED, reason=reason)


def user_suspend(*, user: User, actor: User, reason: str) -> User:
    """Suspend: the account can log in and browse, but ``ensure_can_transact`` refuses it.
    Its listings stay on public pages."""
    return _account_status_set(user=user, actor=actor, status=AccountStatus.SUSPENDED, reason=reason)


def user_reinstate(*, user: User, actor: User, reason: str) -> User:
    """Back to active, from suspended or banned."""
    return _account_status_set(user=user, actor=actor, status=AccountStatus.ACTIVE, reason=reason)


def ensure_can_transact(user) -> None:
    """Raise ``ServiceError`` unless ``user`` may buy, sell or message (call it first in
    every such service)."""
    if not user.is_authenticated:
        raise ServiceError("Log in first.", code=ErrorCode.LOGIN_REQUIRED)
    if user.account_status == AccountStatus.BANNED:
        raise ServiceError(BANNED_MESSAGE, code=ErrorCode.ACCOUNT_BANNED)
    if user.account_status == AccountStatus.SUSPENDED:
        raise ServiceError(SUSPENDED_MESSAGE, code=ErrorCode.ACCOUNT_SUSPENDED)


BUY_UNVERIFIED_MESSAGE = (
    "Verify your email address before buying: use the link we emailed you, or ask for a new "
    "one on your profile page."
)


def ensure_can_buy(user) -> None:
    """Buying needs an account in good standing and a verified email: the one rule, asked by
    the listing page (``listings.capabilities``) and enforced by the purchase service."""
    ensure_can_transact(user)
    if user.email_verified_at is None:
        raise ServiceError(BUY_UNVERIFIED_MESSAGE, code=ErrorCode.EMAIL_UNVERIFIED)


def ensure_can_publish(user) -> None:
    """Publishing a listing needs an account in good standing and a verified email."""
    ensure_can_transact(user)
    if user.email_verified_at is None:
        raise ServiceError(
            "Verify your email address before publishing: use the link we emailed you, or ask "
            "for a new one on your profile page.",
            code=ErrorCode.EMAIL_UNVERIFIED,
        )


# --- Selling ------------------------------------------------------------------------------

SELLER_DISPLAY_NAME_MIN = 2
SELLER_DISPLAY_NAME_MAX = 80
PHONE_NUMBER_MESSAGE = (
    "Enter the number in international format: a + sign, the country code and the number, "
    "8 to 15 digits in all (for example +44 20 7946 0958)."
)
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")
_PHONE_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def normalize_phone_number(raw: str) -> str:
    """``" +44 (20) 7946-0958 "`` -> ``"+442079460958"``; ``""`` stays ``""``.

    E.164-ish: spaces, dashes, dots, slashes and brackets are dropped and a leading ``00``
    becomes ``+``; what is left must be ``+`` and 8-15 digits, the first not 0. Anything
    else raises ``ServiceError`` (code ``phone_invalid``).
    """
    value = _PHONE_SEPARATORS.sub("", raw or "")
    if not value:
        return ""
    if value.startswith("00"):
        value = "+" + value[2:]
    if not _PHONE_E164.fullmatch(value):
        raise ServiceError(PHONE_NUMBER_MESSAGE, code=ErrorCode.PHONE_INVALID)
    return value


def clean_seller_display_name(raw: str) -> str:
    """Trimmed, inner runs of whitespace made one space, 2-80 characters."""
    name = " ".join((raw or "").split())
    if not SELLER_DISPLAY_NAME_MIN <= len(name) <= SELLER_DISPLAY_NAME_MAX:
        raise ServiceError(
            f"Your seller name must be {SELLER_DISPLAY_NAME_MIN} to {SELLER_DISPLAY_NAME_MAX} "
            "characters long.",
            code=ErrorCode.DISPLAY_NAME_INVALID,
        )
    return name


def ensure_can_start_selling(user) -> None:
    """Becoming a seller (or editing seller details) needs an account in good standing and
    a verified email: the same gate as publishing, so a new seller can publish at once."""
    ensure_can_transact(user)
    if user.email_verified_at is None:
        raise ServiceError(
            "Verify your email address before you start selling: open the link we emailed you, "
            "or ask for a new one.",
            code=ErrorCode.EMAIL_UNVERIFIED,
        )


def seller_onboard(*, user: User, display_name: str, phone_number: str) -> User:
    """Make ``user`` a seller, or update the seller details of one who already is.

    Locks the user row (``SELECT ... FOR UPDATE``) and re-checks status and email on it, so
    a suspension or email change that commits first wins. A different phone number clears
    ``phone_verified_at``: a verification belongs to the number that was verified. KYC and
    seller-verified badges are left alone.
    """
    ensure_can_start_selling(user)
    name = clean_seller_display_name(display_name)
    phone = normalize_phone_number(phone_number)
    with transaction.atomic():
        locked = (
            User.objects.select_for_update()
            .only(
                "account_status",
                "email_verified_at",
                "is_seller",
                "seller_display_name",
                "phone_number",
                "phone_verified_at",
            )
            .get(pk=user.pk)
        )
        ensure_can_start_selling(locked)
        changes = {"is_seller": True, "seller_display_name": name, "phone_number": phone}
        if phone != locked.phone_number:
            changes["phone_verified_at"] = None
        fields = [field for field, value in changes.items() if getattr(locked, field) != value]
        for field, value in changes.items():
            setattr(locked, field, value)
            setattr(user, field, value)
        if fields:
            locked.save(update_fields=fields)
    if "is_seller" in fields:
        logger.info("seller onboarded: %s", user.pk)
    return user


# --- Account deletion (the privacy app composes it: privacy.services.account_delete) --------


def deleted_email(user_id) -> str:
    """The placeholder address of a deleted account: unique (the id) and undeliverable
    (``.invalid`` is reserved, RFC 2606), so the member's real address is free again."""
    return f"deleted-{user_id}@deleted.invalid"


def user_anonymise(*, user: User) -> User:
    """Erase the personal data of ``user``'s row and make it impossible to log in with.

    Name, email (a placeholder, :func:`deleted_email`), phone, bio, avatar (the file is deleted
    after commit), seller name and Stripe account, verifications; the password becomes
    unusable, which also ends every session (their hash no longer matches), and ``is_active``
    goes false (the backend refuses inactive accounts). The row itself stays: orders, ledger,
    messages and reviews refer to it, shown as ``DELETED_MEMBER_NAME``. Ratings are kept (they
    are the other members' reviews). The caller holds the user row lock, in its transaction.
    """
    old_avatar = user.avatar.name or ""
    user.email = deleted_email(user.pk)
    user.first_name = user.last_name = user.bio = user.seller_display_name = user.phone_number = ""
    user.avatar = ""
    user.stripe_connect_id = None
    user.email_verified_at = user.phone_verified_at = user.kyc_verified_at = user.seller_verified_at = None
    user.is_seller = False
    user.is_active = False
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    user.save(
        update_fields=[
            "email", "first_name", "last_name", "bio", "seller_display_name", "phone_number", "avatar",
            "stripe_connect_id", "email_verified_at", "phone_verified_at", "kyc_verified_at",
            "seller_verified_at", "is_seller", "is_active", "deleted_at", "password",
        ]
    )  # fmt: skip
    if old_avatar:
        after_commit(user.avatar.storage.delete, old_avatar)
    return user
