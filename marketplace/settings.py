"""Settings, read from the environment (django-environ) with development defaults.

Embedded services write their URLs to ``.data/services.env`` (see ``marketplace.embedded``);
variables already set in the environment win over that file.
"""

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".data" / "services.env")

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.sitemaps",
    "channels",
    "marketplace",
    "accounts",
    "listings",
    "payments",
    "reviews",
    "messaging",
    "notifications",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.AccountStatusMiddleware",  # after messages: it leaves a notice
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"
ASGI_APPLICATION = "marketplace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@/marketplace?host=/tmp")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.str("DATABASE_REPLICA_URL", default=""):
    # Read replica (streaming replication); tests mirror it onto the primary.
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: cache, sessions, channel layer --------------------------------------------
def redis_url_with_db(url: str, db: int) -> str:
    """The same server at another logical database (``redis://host/N`` or ``unix://...?db=N``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="mkt"),
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "default"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_LAYER_PREFIX", default="mkt-asgi")},
    }
}

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n, static, media --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".data" / "media")
WHITENOISE_USE_FINDERS = DEBUG  # development serves static files without collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Marketplace <no-reply@marketplace.local>")
# Absolute links in emails sent outside a request (receipts sent from Stripe's webhook).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Marketplace rules ----------------------------------------------------------------
# ISO-4217 codes accepted for prices, with their minor-unit exponents.
CURRENCIES = env.dict("CURRENCIES", cast={"value": int}, default={"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0})
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
# Search: counts stop at this many matches ("1,000+"); counts and facets are cached this long.
SEARCH_COUNT_CAP = env.int("SEARCH_COUNT_CAP", default=1_000)
SEARCH_FACETS_TTL = env.int("SEARCH_FACETS_TTL", default=60)
# Seconds a listing page's shared fragment lives in Redis (versioned keys retire it sooner).
LISTING_PAGE_CACHE_TTL = env.int("LISTING_PAGE_CACHE_TTL", default=300)
# Analytics events: months kept; older monthly partitions are dropped (or detached).
EVENTS_RETENTION_MONTHS = env.int("EVENTS_RETENTION_MONTHS", default=13)
EVENTS_PARTITIONS_AHEAD = env.int("EVENTS_PARTITIONS_AHEAD", default=3)
EVENTS_RETENTION_ACTION = env.str("EVENTS_RETENTION_ACTION", default="drop")  # drop | detach

# --- Integrations: each switches on when its variables are set -----------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")

# --- Production hardening (manage.py check --deploy is clean with DEBUG=false) ---------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# The email's uniqueness is a case-insensitive UniqueConstraint(Upper("email")), which this
# check does not recognise; login looks the address up with email__iexact.
SILENCED_SYSTEM_CHECKS = ["auth.E003"]

# --- Accounts: sign-in, verification, throttling, avatars --------------------------------
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 24 * 60 * 60)  # seconds
# Rate limits: fixed windows counted in Redis per client address. The address is REMOTE_ADDR,
# so behind a reverse proxy the server must set it to the real client (e.g. uvicorn/daphne
# --proxy-headers, or the proxy protocol); otherwise every visitor shares the proxy's counter.
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=30)
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
SIGNUPS_PER_IP = env.int("SIGNUPS_PER_IP", default=10)
SIGNUP_WINDOW_SECONDS = env.int("SIGNUP_WINDOW_SECONDS", default=60 * 60)
# Password-reset and verification emails, per client address and per recipient.
ACCOUNT_EMAILS_PER_IP = env.int("ACCOUNT_EMAILS_PER_IP", default=10)
ACCOUNT_EMAILS_PER_ADDRESS = env.int("ACCOUNT_EMAILS_PER_ADDRESS", default=3)
ACCOUNT_EMAIL_WINDOW_SECONDS = env.int("ACCOUNT_EMAIL_WINDOW_SECONDS", default=60 * 60)
AVATAR_MAX_UPLOAD_BYTES = env.int("AVATAR_MAX_UPLOAD_BYTES", default=5 * 1024 * 1024)
AVATAR_MAX_PIXELS = env.int("AVATAR_MAX_PIXELS", default=40_000_000)
AVATAR_SIZE = env.int("AVATAR_SIZE", default=512)  # stored avatars fit this square

# --- Listing photos -------------------------------------------------------------------------
LISTING_MAX_PHOTOS = env.int("LISTING_MAX_PHOTOS", default=10)
LISTING_PHOTO_MAX_UPLOAD_BYTES = env.int("LISTING_PHOTO_MAX_UPLOAD_BYTES", default=15 * 1024 * 1024)
LISTING_PHOTO_MAX_PIXELS = env.int("LISTING_PHOTO_MAX_PIXELS", default=50_000_000)
LISTING_PHOTO_DISPLAY_SIZE = env.int("LISTING_PHOTO_DISPLAY_SIZE", default=1600)  # fits this square
LISTING_PHOTO_THUMB_SIZE = env.int("LISTING_PHOTO_THUMB_SIZE", default=400)

# --- Media storage: local files, or S3-compatible object storage with MEDIA_STORAGE=s3 ------
# django-storages reads the AWS_* settings below; boto3 is imported only when the S3 storage
# is first used, so nothing needs it unless MEDIA_STORAGE=s3. Credentials left unset fall
# back to boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, instance role).
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)  # MinIO, R2, B2, Spaces...
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_S3_ACCESS_KEY_ID = env.str("AWS_S3_ACCESS_KEY_ID", default=None)
    AWS_S3_SECRET_ACCESS_KEY = env.str("AWS_S3_SECRET_ACCESS_KEY", default=None)
    # Listing photo URLs are stored in the database and in cached pages: they must not expire,
    # so objects are served unsigned (a public-read bucket, or a CDN in front of it).
    AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=False)
    AWS_S3_CUSTOM_DOMAIN = env.str("AWS_S3_CUSTOM_DOMAIN", default=None)  # e.g. cdn.example.com
    AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default=None)  # "path" for MinIO
    AWS_S3_OBJECT_PARAMETERS = {"CacheControl": "public, max-age=31536000, immutable"}
elif MEDIA_STORAGE != "filesystem":
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be 'filesystem' or 's3', not {MEDIA_STORAGE!r}.")

# --- Listing editor -------------------------------------------------------------------------
# New listings (drafts) a seller may create per hour, counted in Redis; the next gets a 429.
LISTINGS_CREATED_PER_HOUR = env.int("LISTINGS_CREATED_PER_HOUR", default=20)

# --- Payments: fees, escrow, checkout expiry, reconciliation -------------------------------
# Platform fee in basis points of the subtotal (1000 = 10%), rounded down to the minor unit.
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# Days a paid transaction's money is held before release_escrow pays the seller.
ESCROW_RELEASE_DAYS = env.int("ESCROW_RELEASE_DAYS", default=7)
# Minutes an unpaid checkout holds its listing before expire_checkouts cancels it.
CHECKOUT_EXPIRY_MINUTES = env.int("CHECKOUT_EXPIRY_MINUTES", default=30)
# reconcile lists transactions left pending, overdue for release, or disputed this long.
TRANSACTION_STUCK_HOURS = env.int("TRANSACTION_STUCK_HOURS", default=48)

# --- Stripe: real Stripe when STRIPE_SECRET_KEY is set, otherwise the embedded localstripe ---
# `python -m marketplace.embedded start` writes the localstripe values (STRIPE_MODE=local) to
# .data/services.env. localstripe has no Connect: in local mode Connect calls are simulated
# (payments.gateway.SimulatedConnectGateway) and pages say "test mode: payouts simulated".
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_MODE = env.str("STRIPE_MODE", default="live" if STRIPE_SECRET_KEY else "local")
if STRIPE_MODE not in ("live", "local"):
    raise ImproperlyConfigured(f"STRIPE_MODE must be 'live' or 'local', not {STRIPE_MODE!r}.")
STRIPE_CONNECT_SIMULATED = STRIPE_MODE == "local"
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
