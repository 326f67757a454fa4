"""Account pages: thin views over accounts.forms, accounts.services and accounts.selectors.

The public profile also shows the member's listings and reviews: as presentation, this module
may compose the selectors of higher apps, which accounts' domain modules never import.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from accounts import throttles
from accounts.forms import EmailChangeForm, LoginForm, PasswordResetRequestForm, ProfileForm, SignupForm
from accounts.models import User
from accounts.selectors import public_name, user_for_profile
from accounts.services import (
    email_verification_send,
    user_email_change,
    user_email_change_confirm,
    user_profile_update,
    user_signup,
    user_verify_email,
)
from alerts.selectors import is_following
from listings.models import Listing
from listings.selectors import seller_public_listings
from marketplace.db_router import replica_safe
from marketplace.errors import ServiceError
from marketplace.ratelimit import client_ip
from reviews.models import FlagReason, Review
from reviews.pages import ProfileReviews, profile_review_page

PROFILE_LISTINGS_LIMIT = 24


def _base_url(request) -> str:
    """Scheme and host of this request, for links in emails."""
    return request.build_absolute_uri("/")


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)


def _too_many(request, template: str, context: dict, *, message: str, retry_after: int):
    """The page of the refused form, with the reason, as 429 Too Many Requests."""
    wait = throttles.wait_message(retry_after)
    context = {**context, "throttle_message": f"{message} Try again in {wait}."}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


# --- Sign up, log in, log out -------------------------------------------------------------


def signup(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    template = "accounts/signup.html"
    next_url = _next_url(request, settings.LOGIN_REDIRECT_URL)
    if request.method != "POST":
        return render(request, template, {"form": SignupForm(), "next": next_url})

    ip = client_ip(request)
    retry_after = throttles.signup_blocked(ip=ip)
    if retry_after:
        return _too_many(
            request,
            template,
            {"form": SignupForm(initial={"email": request.POST.get("email", "")}), "next": next_url},
            message="Too many sign-up attempts from your network.",
            retry_after=retry_after,
        )
    throttles.signup_attempted(ip=ip)
    form = SignupForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        # The answer is the same whether or not the address has an account (no enumeration);
        # an existing owner is emailed instead, within the address's email budget.
        account = throttles.account_identity(data["email"])
        notify = not throttles.account_email_blocked(ip="", account=account)
        user_signup(
            email=data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            base_url=_base_url(request),
            notify_owner=notify,
        )
        throttles.account_email_requested(ip="", account=account)
        return redirect(_signup_done_url(next_url))
    return render(request, template, {"form": form, "next": next_url})


def _signup_done_url(next_url: str) -> str:
    done = reverse("accounts:signup_done")
    if next_url == resolve_url(settings.LOGIN_REDIRECT_URL):
        return done
    return f"{done}?{urlencode({'next': next_url})}"


def signup_done(request):
    """ "Check your email", after every sign-up: a new account and an address that already has
    one get this same page (the owner of the latter is emailed instead of a new account)."""
    return render(
        request, "accounts/signup_done.html", {"next": _next_url(request, settings.LOGIN_REDIRECT_URL)}
    )


class LoginView(auth_views.LoginView):
    """Log in by email. The throttle lives in the authentication backend
    (``accounts.backends.ThrottledModelBackend``, shared with the admin's log-in): past a
    limit it refuses before any password is checked, and this page answers 429 with its form."""

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except throttles.LoginThrottled as refused:
            form = self.form_class(request, initial={"username": request.POST.get("username", "")})
            return _too_many(
                request,
                self.template_name,
                self.get_context_data(form=form),
                message=refused.message,
                retry_after=refused.retry_after,
            )


class LogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET); redirects to LOGOUT_REDIRECT_URL."""


# --- Passwords ----------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Sends a reset link when the address belongs to an account; the answer is the same
    either way. Requests are counted per client address and per address asked for."""

    form_class = PasswordResetRequestForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request, *args, **kwargs):
        address = request.POST.get("email", "")
        ip = client_ip(request)
        form = self.get_form()
        account = throttles.account_identity(form.cleaned_data["email"]) if form.is_valid() else ""
        retry_after = throttles.account_email_blocked(ip=ip, account=account)
        if retry_after:
            return _too_many(
                request,
                self.template_name,
                self.get_context_data(form=self.form_class(initial={"email": address})),
                message="Too many emails were requested.",
                retry_after=retry_after,
            )
        if form.is_valid():
            throttles.account_email_requested(ip=ip, account=account)
            return self.form_valid(form)
        return self.form_invalid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        # The owner proved control of the mailbox: the account's log-in lockout ends.
        throttles.login_succeeded(account=throttles.identity_of(self.user))
        return super().form_valid(form)


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    """Other sessions of the account end (Django's session hash); this one stays."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("accounts:password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


# --- Email address ------------------------------------------------------------------------


def verify_email(request, token):
    """Opened from the emailed link, logged in or not. GET is safe to repeat: it only ever
    sets the verification time once."""
    try:
        user, newly_verified = user_verify_email(token=token)
    except ServiceError as error:
        return render(request, "accounts/verify_email.html", {"error": error.message}, status=400)
    return render(
        request,
        "accounts/verify_email.html",
        {"verified_email": user.email, "newly_verified": newly_verified},
    )


@login_required
@require_POST
def verify_email_resend(request):
    user = request.user
    if user.email_verified_at is not None:
        messages.info(request, "Your email address is already verified.")
        return redirect("accounts:profile_edit")
    ip = client_ip(request)
    account = throttles.identity_of(user)
    retry_after = throttles.account_email_blocked(ip=ip, account=account)
    if retry_after:
        response = render(
            request,
            "accounts/rate_limited.html",
            {
                "throttle_message": "Too many emails were requested. Try again in "
                f"{throttles.wait_message(retry_after)}."
            },
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
    throttles.account_email_requested(ip=ip, account=account)
    email_verification_send(user=user, base_url=_base_url(request))
    messages.success(request, f"We sent a new verification link to {user.email}.")
    return redirect("accounts:profile_edit")


@login_required
def email_change(request):
    """A new address changes only when the link sent there is opened (``email_change_confirm``);
    the answer is the same whether the address is free or another account's."""
    template = "accounts/email_change.html"
    if request.method != "POST":
        return render(request, template, {"form": EmailChangeForm(request.user)})
    form = EmailChangeForm(request.user, request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"]
        ip = client_ip(request)
        account = throttles.account_identity(email)
        retry_after = throttles.account_email_blocked(ip=ip, account=account)
        if retry_after:
            return _too_many(
                request,
                template,
                {"form": form},
                message="Too many emails were requested.",
                retry_after=retry_after,
            )
        try:
            changed = user_email_change(user=request.user, email=email, base_url=_base_url(request))
        except ServiceError as error:
            form.add_error("email", error.message)
        else:
            if changed:
                messages.success(request, f"Your email address is now {request.user.email}.")
            else:
                throttles.account_email_requested(ip=ip, account=account)
                messages.success(
                    request,
                    f"We sent a link to {email}. Your email address changes when you open it; "
                    f"until then you still log in with {request.user.email}.",
                )
            return redirect("accounts:profile_edit")
    return render(request, template, {"form": form})


def email_change_confirm(request, token):
    """Opened from the emailed link, logged in or not (it proves the new mailbox)."""
    try:
        user = user_email_change_confirm(token=token)
    except ServiceError as error:
        return render(request, "accounts/email_change_confirm.html", {"error": error.message}, status=400)
    return render(request, "accounts/email_change_confirm.html", {"new_email": user.email})


# --- Profile ------------------------------------------------------------------------------


@login_required
def profile_edit(request):
    """Always the logged-in user's own profile: no id in the URL to tamper with."""
    user = request.user
    template = "accounts/profile_edit.html"
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "bio": user.bio,
        "avatar": user.avatar,
    }
    if request.method != "POST":
        return render(request, template, {"form": ProfileForm(initial=initial)})
    form = ProfileForm(request.POST, request.FILES, initial=initial)
    if form.is_valid():
        avatar = form.cleaned_data["avatar"]
        user_profile_update(
            user=user,
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"],
            bio=form.cleaned_data["bio"],
            avatar=avatar or None,
            remove_avatar=avatar is False,
        )
        messages.success(request, "Your profile was saved.")
        return redirect("accounts:profile_edit")
    if form.has_error("avatar", code="image_busy"):  # no decode slot in time: try again later
        response = render(request, template, {"form": form}, status=429)
        response["Retry-After"] = "30"
        return response
    return render(request, template, {"form": form})


@dataclass
class PublicProfile:
    user: User
    name: str
    listings: list[Listing]
    more_listings: bool
    review_page: ProfileReviews

    @property
    def reviews(self) -> list[Review]:
        return self.review_page.reviews


@replica_safe
def profile(request, user_id):
    """The public profile (also the seller page). Banned accounts 404 except for staff.
    Three queries whatever its contents (four for a member: their flags on the page's reviews):
    the user (ratings and chart are columns of it), their listings, one page of their reviews
    (``?reviews=`` is the keyset cursor)."""
    user = user_for_profile(user_id=user_id, viewer=request.user)
    if user is None:
        raise Http404("No such user.")
    listings, more_listings = seller_public_listings(seller_id=user.pk, limit=PROFILE_LISTINGS_LIMIT)
    found = PublicProfile(
        user=user,
        name=public_name(user),
        listings=listings,
        more_listings=more_listings,
        review_page=profile_review_page(user=user, viewer=request.user, cursor=request.GET.get("reviews")),
    )
    context = {
        "profile": found,
        "profile_user": user,
        "flag_reasons": FlagReason.choices,
        "flag_text_max": settings.REVIEW_FLAG_TEXT_MAX_LENGTH,
        "following": is_following(request.user, user.pk),
    }
    return render(request, "accounts/profile.html", context)
