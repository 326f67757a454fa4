"""Settings, read from the environment (django-environ) with development defaults.

Embedded services write their URLs to ``.data/services.env`` (see ``marketplace.embedded``);
variables already set in the environment win over that file.
"""

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".data" / "services.env")
# Development mode is explicit: `make run` writes DEBUG=true to .data/dev.env (a development
# checkout); tests/settings.py sets it for the tests. Anything else runs in production mode.
environ.Env.read_env(BASE_DIR / ".data" / "dev.env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is false (production mode, the default). "
            "For development, run `make run` once (it writes DEBUG=true to .data/dev.env) "
            "or set DEBUG=true."
        )
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
    "procrastinate.contrib.django",  # job queue (PostgreSQL): emails, periodic work
    "marketplace",
    "accounts",
    "listings",
    "payments",
    "reviews",
    "messaging",
    "notifications",
    "analytics",
    "moderation",
    "offers",
    "alerts",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "marketplace.csp.ContentSecurityPolicyMiddleware",  # CONTENT_SECURITY_POLICY below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.AccountStatusMiddleware",  # after messages: it leaves a notice
    "accounts.middleware.LoginThrottleMiddleware",  # 429 for a throttled log-in (admin's too)
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
                "messaging.context_processors.unread_messages",
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
        # CHANNEL_REDIS_URL: the channel layer on its own Redis (default: REDIS_URL's).
        "CONFIG": {
            "hosts": [env.str("CHANNEL_REDIS_URL", default=REDIS_URL)],
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default="mkt-asgi"),
            # Pending messages per channel; every socket of a server process shares one.
            "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=5000),
        },
    }
}

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# The only backend: ModelBackend behind the log-in throttle, so every way in is throttled.
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
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
# `collectstatic` writes here; in production mode (manifest storage) run it with the same
# settings as the server (`make serve` does), or every page answers 500.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / ".data" / "staticfiles")
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
# SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend) in production.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
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
# "Did you mean": the least pg_trgm similarity of a suggested word to the typed one (0.3 at
# least: the trigram index answers from pg_trgm.similarity_threshold, 0.3 by default).
SEARCH_SPELLING_MIN_SIMILARITY = env.float("SEARCH_SPELLING_MIN_SIMILARITY", default=0.3)
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
# (auth.W004 is the same check once the backend is not Django's own: ThrottledModelBackend.)
SILENCED_SYSTEM_CHECKS = ["auth.E003", "auth.W004"]

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

# --- Uploaded images (marketplace/images.py; budget and figures in bench/README.md) ---------
# The full-size decoded picture may take at most this many bytes (1 a pixel for grey, 2 for
# 16-bit grey, 4 for colour): 160 MB is 40 megapixels of colour. JPEGs decode at reduced size.
IMAGE_MAX_DECODE_BYTES = env.int("IMAGE_MAX_DECODE_BYTES", default=160_000_000)
# Pictures decoded at once per process, and how long an upload waits for a turn (then 429).
IMAGE_DECODE_CONCURRENCY = env.int("IMAGE_DECODE_CONCURRENCY", default=1)
IMAGE_DECODE_WAIT_SECONDS = env.float("IMAGE_DECODE_WAIT_SECONDS", default=20.0)

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
# Private media (message attachments): never under MEDIA_ROOT or a public URL. Served only by
# an access-checked view (messaging.views); on S3, private objects under their own prefix.
PRIVATE_MEDIA_ROOT = env.path("PRIVATE_MEDIA_ROOT", default=BASE_DIR / ".data" / "private")
if MEDIA_STORAGE == "s3":
    STORAGES["private"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            # A bucket of its own is safest: a public-read bucket policy overrides object ACLs.
            "bucket_name": env.str("PRIVATE_MEDIA_S3_BUCKET", default=AWS_STORAGE_BUCKET_NAME),
            "location": env.str("PRIVATE_MEDIA_S3_PREFIX", default="private"),
            "default_acl": "private",
            "querystring_auth": True,
            "custom_domain": None,
            "object_parameters": {"CacheControl": "private, no-store"},
        },
    }
else:
    if Path(PRIVATE_MEDIA_ROOT).resolve().is_relative_to(Path(MEDIA_ROOT).resolve()):
        raise ImproperlyConfigured("PRIVATE_MEDIA_ROOT must not be inside MEDIA_ROOT (served publicly).")
    STORAGES["private"] = {
        "BACKEND": "marketplace.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_MEDIA_ROOT)},
    }
# With local files, the ASGI application itself serves MEDIA_ROOT under MEDIA_URL
# (marketplace.media; in every mode). Turn it off when a proxy or CDN serves MEDIA_ROOT.
SERVE_MEDIA = MEDIA_STORAGE == "filesystem" and env.bool("SERVE_MEDIA", default=True)

# --- Production-style server (`make serve`: python -m marketplace.serve) ---------------------
# uvicorn worker processes; seconds a worker finishes in-flight requests after SIGTERM before
# they are cancelled; seconds more before the runner kills whatever is left (bounded shutdown).
SERVE_WORKERS = env.int("SERVE_WORKERS", default=2)
SERVE_GRACEFUL_TIMEOUT = env.int("SERVE_GRACEFUL_TIMEOUT", default=10)
SERVE_KILL_AFTER = env.int("SERVE_KILL_AFTER", default=5)
# Proxy addresses whose X-Forwarded-For/-Proto uvicorn trusts (REMOTE_ADDR, HTTPS).
SERVE_FORWARDED_ALLOW_IPS = env.str("SERVE_FORWARDED_ALLOW_IPS", default="127.0.0.1")

# --- Listing editor -------------------------------------------------------------------------
# New listings (drafts) a seller may create per hour, counted in Redis; the next gets a 429.
LISTINGS_CREATED_PER_HOUR = env.int("LISTINGS_CREATED_PER_HOUR", default=20)

# --- Messaging -------------------------------------------------------------------------------
# Longest message, in characters; messages one member may send per minute (the next is refused
# with a clear message, 429 on a page); seconds the header's unread badge stays cached (counted
# at log-in; every send, read, archive, report and block drops it).
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=4000)
MESSAGE_RATE_PER_MINUTE = env.int("MESSAGE_RATE_PER_MINUTE", default=20)
MESSAGE_UNREAD_CACHE_SECONDS = env.int("MESSAGE_UNREAD_CACHE_SECONDS", default=3600)
# Threads per server process for the messaging sockets' database calls (one connection each).
MESSAGE_SOCKET_DB_THREADS = env.int("MESSAGE_SOCKET_DB_THREADS", default=16)
# How often each server process checks that the channel layer's Redis kept its groups.
MESSAGE_SOCKET_WATCH_SECONDS = env.float("MESSAGE_SOCKET_WATCH_SECONDS", default=5.0)
# Mask email addresses, phone numbers and off-site payment handles for a message's recipient
# until the two have a paid transaction together (messaging/masking.py); the sender and staff
# always see the original.
MESSAGE_MASK_CONTACT_DETAILS = env.bool("MESSAGE_MASK_CONTACT_DETAILS", default=True)
# Pictures per message, bytes and pixels per picture, and the squares the stored copies fit
# (the full view and the thumbnail in the conversation).
MESSAGE_MAX_ATTACHMENTS = env.int("MESSAGE_MAX_ATTACHMENTS", default=4)
MESSAGE_ATTACHMENT_MAX_BYTES = env.int("MESSAGE_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
MESSAGE_ATTACHMENT_MAX_PIXELS = env.int("MESSAGE_ATTACHMENT_MAX_PIXELS", default=40_000_000)
MESSAGE_ATTACHMENT_DISPLAY_SIZE = env.int("MESSAGE_ATTACHMENT_DISPLAY_SIZE", default=1600)
MESSAGE_ATTACHMENT_THUMB_SIZE = env.int("MESSAGE_ATTACHMENT_THUMB_SIZE", default=320)
# Spam reports and blocks one member may make per hour (the next gets a 429).
MESSAGE_SAFETY_ACTIONS_PER_HOUR = env.int("MESSAGE_SAFETY_ACTIONS_PER_HOUR", default=30)

# --- Reviews ---------------------------------------------------------------------------------
# Days after a purchase completes (or receipt is confirmed) during which each party may review.
REVIEW_WINDOW_DAYS = env.int("REVIEW_WINDOW_DAYS", default=14)
# Longest review title, comment and response, in characters (the database caps them at 100/5000/5000).
REVIEW_TITLE_MAX_LENGTH = env.int("REVIEW_TITLE_MAX_LENGTH", default=100)
REVIEW_COMMENT_MAX_LENGTH = env.int("REVIEW_COMMENT_MAX_LENGTH", default=2000)
REVIEW_RESPONSE_MAX_LENGTH = env.int("REVIEW_RESPONSE_MAX_LENGTH", default=1000)
# Longest flag text (the database caps it at 2000), and flags one member may raise per hour.
REVIEW_FLAG_TEXT_MAX_LENGTH = env.int("REVIEW_FLAG_TEXT_MAX_LENGTH", default=1000)
REVIEW_FLAGS_PER_HOUR = env.int("REVIEW_FLAGS_PER_HOUR", default=20)
# Reviews per page on a member's public profile (keyset pages, featured first, then newest).
REVIEWS_PAGE_SIZE = env.int("REVIEWS_PAGE_SIZE", default=10)

# --- Payments: fees, escrow, checkout expiry, reconciliation -------------------------------
# Platform fee in basis points of the subtotal (1000 = 10%), rounded down to the minor unit.
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# Days a paid transaction's money is held before release_escrow pays the seller.
ESCROW_RELEASE_DAYS = env.int("ESCROW_RELEASE_DAYS", default=7)
# Minutes an unpaid checkout holds its listing before expire_checkouts cancels it.
CHECKOUT_EXPIRY_MINUTES = env.int("CHECKOUT_EXPIRY_MINUTES", default=30)
# Unpaid checkouts one buyer may hold open at once (each reserves a listing).
CHECKOUT_MAX_OPEN_PER_BUYER = env.int("CHECKOUT_MAX_OPEN_PER_BUYER", default=3)
# Checkouts ("Buy now") one buyer may start per hour, counted in Redis; the next gets a 429.
CHECKOUT_STARTS_PER_HOUR = env.int("CHECKOUT_STARTS_PER_HOUR", default=10)
# Minutes a buyer who cancelled a checkout, or let it expire, waits to reserve that listing again.
CHECKOUT_COOLING_OFF_MINUTES = env.int("CHECKOUT_COOLING_OFF_MINUTES", default=15)
# The smallest charge per currency, in major units (Stripe's documented minimums): a fixed
# price below it is refused by the editor, the admin and checkout. Every currency of
# CURRENCIES needs one (system check money.E001). Override as "USD=0.50,EUR=0.50,...".
# fmt: off
STRIPE_MINIMUM_CHARGE = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50", "CAD": "0.50",
    "CHF": "0.50", "CZK": "15.00", "DKK": "2.50", "EUR": "0.50", "GBP": "0.30", "HKD": "4.00",
    "HUF": "175.00", "INR": "0.50", "JPY": "50", "MXN": "10", "MYR": "2", "NOK": "3.00",
    "NZD": "0.50", "PLN": "2.00", "RON": "2.00", "SEK": "3.00", "SGD": "0.50", "THB": "10",
}
# fmt: on
MINIMUM_CHARGE = {**STRIPE_MINIMUM_CHARGE, **env.dict("MINIMUM_CHARGE", default={})}
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
# With DEBUG=false, STRIPE_MODE=local (simulated payouts) is refused by a system check
# (marketplace.E001) unless this opt-in says the site is a production-like local demo.
ALLOW_SIMULATED_PAYMENTS = env.bool("ALLOW_SIMULATED_PAYMENTS", default=False)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# A webhook's signed timestamp must lie within this many seconds of now, before or after
# (the stripe library checks only the past); an event's `created` may not be later either.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)

# --- Content-Security-Policy (django-csp 4) ------------------------------------------------
# No inline script or style: scripts and styles are static files, or carry
# nonce="{{ request.csp_nonce }}" (inline event handlers and style="" attributes are refused
# too). marketplace.csp.ContentSecurityPolicyMiddleware adds, per response, the sources other
# settings call for: Stripe.js (STRIPE_JS_URL), the Stripe API (STRIPE_API_BASE; localstripe
# in local mode), the media storage's origin (S3, a CDN) and an absolute STATIC_URL.
CSP_MEDIA_ORIGINS = env.list("CSP_MEDIA_ORIGINS", default=[])  # more image origins, by hand
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,  # where browsers report violations
    },
}
