"""System checks for production mode (``DEBUG=false``): settings that would fail open.

``manage.py check`` (and every command that runs the checks: ``migrate``, the server runner
``marketplace.serve``) refuses the errors; ``check --deploy`` adds the warnings.
"""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_simulated_payments(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Production mode with ``STRIPE_MODE=local`` pays sellers out of thin air (simulated
    Connect): refused unless ``ALLOW_SIMULATED_PAYMENTS`` opts into a production-like demo."""
    if settings.DEBUG or not settings.STRIPE_CONNECT_SIMULATED:
        return []
    if not settings.ALLOW_SIMULATED_PAYMENTS:
        return [
            checks.Error(
                "STRIPE_MODE=local (localstripe, simulated payouts) is refused with DEBUG=false.",
                hint="Set STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET for "
                "real Stripe; for a production-like local demo with simulated payments, set "
                "ALLOW_SIMULATED_PAYMENTS=true.",
                id="marketplace.E001",
            )
        ]
    return [
        checks.Warning(
            "Payments are simulated (STRIPE_MODE=local, ALLOW_SIMULATED_PAYMENTS=true): "
            "no card is charged and no seller is paid.",
            hint="A demo only: configure real Stripe before taking real orders.",
            id="marketplace.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_production_integrations(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Development defaults that a deploy must replace: payments never confirmed without the
    webhook secret, emails (verification, receipts) printed instead of sent, email links to
    the development address."""
    if settings.DEBUG:
        return []
    messages = []
    if not settings.STRIPE_CONNECT_SIMULATED and not settings.STRIPE_WEBHOOK_SECRET:
        messages.append(
            checks.Warning(
                "STRIPE_WEBHOOK_SECRET is not set: every Stripe webhook is refused, so no "
                "payment is ever confirmed.",
                hint="Set it to the signing secret of the webhook endpoint /payments/webhooks/stripe/.",
                id="marketplace.W002",
            )
        )
    if settings.EMAIL_BACKEND.rsplit(".", 2)[-2] in ("console", "locmem", "dummy", "filebased"):
        messages.append(
            checks.Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no email reaches anyone "
                "(verification links, password resets, receipts).",
                hint="Set EMAIL_BACKEND (e.g. django.core.mail.backends.smtp.EmailBackend) and "
                "the EMAIL_HOST settings.",
                id="marketplace.W003",
            )
        )
    if not settings.SITE_URL.startswith("https://"):
        messages.append(
            checks.Warning(
                f"SITE_URL is {settings.SITE_URL!r}: links in emails sent outside a request "
                "must use the site's public https:// address.",
                hint="Set SITE_URL, e.g. https://marketplace.example.com.",
                id="marketplace.W004",
            )
        )
    return messages


def refuse_to_serve_with_errors() -> None:
    """Production mode: the application refuses to load while a system check reports an
    error, or before ``collectstatic`` wrote the static files' manifest. ASGI/WSGI servers
    run no checks themselves (``runserver`` does), so a server started without ``manage.py
    check`` would otherwise serve a configuration the checks refuse (simulated payouts, a
    currency without a minimum charge), and without the manifest every page answers 500."""
    if settings.DEBUG:
        return
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
    from django.core.exceptions import ImproperlyConfigured

    errors = [
        message for message in checks.run_checks() if message.is_serious() and not message.is_silenced()
    ]
    if errors:
        raise ImproperlyConfigured(
            "System check errors (see manage.py check):\n" + "\n".join(str(error) for error in errors)
        )
    if isinstance(staticfiles_storage, ManifestFilesMixin) and staticfiles_storage.read_manifest() is None:
        raise ImproperlyConfigured(
            f"No static files manifest in STATIC_ROOT ({settings.STATIC_ROOT}): every page would "
            "answer 500. Run `manage.py collectstatic` with the server's settings first (`make serve` does)."
        )
