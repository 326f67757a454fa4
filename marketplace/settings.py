"""Settings, read from the environment (django-environ) with development defaults.

Embedded services write their URLs to ``.data/services.env`` (see ``marketplace.embedded``);
variables already set in the environment win over that file.
"""

import os
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
    "marketplace.db_router.ReplicaPinMiddleware",  # read-your-writes cookie (REPLICA_PIN_SECONDS)
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
                "marketplace.db_router.replica_pin_context",  # the pin window, for messaging.js
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@/marketplace?host=/tmp")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg's connection pool in each process (Django's "pool" option), on when DB_POOL_MAX_SIZE > 0:
# connections per process at most (every request thread and messaging socket thread holds one
# while it queries), kept open at least, and seconds a request waits for one before an error.
# CONN_MAX_AGE must be 0 with a pool. Behind PgBouncer (transaction mode) leave it off, or small.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
DB_POOL_MIN_SIZE = env.int("DB_POOL_MIN_SIZE", default=2)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=10.0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }
# PgBouncer in transaction-pooling mode between Django and PostgreSQL: a server connection
# changes between transactions, so no server-side cursors (iterator() would hold one open).
# psycopg 3 sends no named prepared statements unless asked, so nothing else is needed.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DB_BEHIND_PGBOUNCER", default=False)
# Parallel workers per query node (PostgreSQL's max_parallel_workers_per_gather), set on each
# new connection (marketplace.apps; None: the server's own). 0: the site's queries are short
# (a search's are 1-50 ms at 1M listings) and run side by side; on 2 cores a Gather's worker
# start-up and per-worker hash builds made them slower (bench/README.md, "Fourth session").
DB_PARALLEL_WORKERS = env.int("DB_PARALLEL_WORKERS", default=0)
# Read replicas (marketplace/db_router.py): one URL or several, comma-separated; `make replica`
# writes .data/replica.env with its own. Only replica-safe pages read them.
environ.Env.read_env(BASE_DIR / ".data" / "replica.env")
DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[]) or (
    [env.str("DATABASE_REPLICA_URL")] if env.str("DATABASE_REPLICA_URL", default="") else []
)
DATABASE_REPLICA_ALIASES = []
REPLICA_CONNECT_TIMEOUT = env.int("REPLICA_CONNECT_TIMEOUT", default=2)  # seconds
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _alias = "replica" if _number == 1 else f"replica{_number}"
    DATABASES[_alias] = env.db_url_config(_url)
    DATABASES[_alias]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES[_alias]["CONN_HEALTH_CHECKS"] = True
    # A replica that does not answer is skipped: never hold a page for long on it.
    DATABASES[_alias].setdefault("OPTIONS", {})["connect_timeout"] = REPLICA_CONNECT_TIMEOUT
    DATABASES[_alias]["TEST"] = {"MIRROR": "default"}
    DATABASE_REPLICA_ALIASES.append(_alias)
DATABASE_ROUTERS = ["marketplace.db_router.ReplicaRouter"]
# Seconds a session reads the primary after it wrote (any POST; a message sent by WebSocket).
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=15)
# A replica whose replay lags more than this many seconds is skipped (reads go to the primary).
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
# Seconds each process keeps a replica's probed health (lag, up/down) before asking again.
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=5.0)

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
# Seconds a cache call waits on Redis (connect, then each reply) before it counts as down.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="mkt"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Redis down: every cache call answers "miss"/no-op (logged), so pages work from the
            # database; rate limits fail open (marketplace/ratelimit.py says why).
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True  # logger "django_redis.cache"
# Sessions live in the database and are cached in Redis: a Redis restart logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "default"
# Redis pub/sub: a group send is one PUBLISH and each server process holds one subscription
# connection that Redis pushes to. The list-based RedisChannelLayer pops every delivery with its
# own BZPOPMIN round trip, one at a time per process: at 200 messages/s on 1,000 sockets its
# deliveries queued for 19 s (bench/README.md, "WebSocket messaging benchmark"). Pub/sub keeps
# nothing for a process that is not listening; the pages catch up from the database on every
# (re)connect, and messaging.consumers.RedisWatch closes the sockets when Redis goes away.
CHANNEL_LAYER_BACKEND = env.str(
    "CHANNEL_LAYER_BACKEND", default="marketplace.channel_layer.PipelinedPubSubChannelLayer"
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKEND,
        # CHANNEL_REDIS_URL: the channel layer on its own Redis (default: REDIS_URL's).
        "CONFIG": {
            "hosts": [env.str("CHANNEL_REDIS_URL", default=REDIS_URL)],
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default="mkt-asgi"),
        },
    }
}
if CHANNEL_LAYER_BACKEND == "channels_redis.core.RedisChannelLayer":
    # Pending messages per channel; every socket of a server process shares one.
    CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = env.int("CHANNEL_LAYER_CAPACITY", default=5000)

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
# Emails are sent by a job (marketplace.mail.queue_email): this many runs in all, retried
# EMAIL_RETRY_BASE_SECONDS * 2**n apart (30 s, 1 min, 2 min, ... about 4 h over 10 runs).
EMAIL_SEND_ATTEMPTS = env.int("EMAIL_SEND_ATTEMPTS", default=10)
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=30)
# The job worker (python -m marketplace.worker; make run / make serve start it).
JOBS_WORKER_CONCURRENCY = env.int("JOBS_WORKER_CONCURRENCY", default=2)  # jobs run at once
JOBS_WORKER_GRACEFUL_SECONDS = env.float("JOBS_WORKER_GRACEFUL_SECONDS", default=20)  # on stop
JOBS_WORKER_PERIODIC = env.bool("JOBS_WORKER_PERIODIC", default=True)  # false: queued jobs only
JOBS_PROBE_CRON = env.str("JOBS_PROBE_CRON", default="")  # tests: a probe job on this schedule
# Absolute links in emails sent outside a request (receipts sent from Stripe's webhook).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Marketplace rules ----------------------------------------------------------------
# ISO-4217 codes accepted for prices, with their minor-unit exponents.
CURRENCIES = env.dict("CURRENCIES", cast={"value": int}, default={"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0})
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
# Search: counts stop at this many matches ("1,000+"); counts and facets are cached this
# many seconds (0: not cached, no Redis round trip).
SEARCH_COUNT_CAP = env.int("SEARCH_COUNT_CAP", default=1_000)
SEARCH_FACETS_TTL = env.int("SEARCH_FACETS_TTL", default=60)
if SEARCH_FACETS_TTL < 0:
    raise ImproperlyConfigured(
        f"SEARCH_FACETS_TTL is seconds, 0 or more (0: no cache), not {SEARCH_FACETS_TTL}."
    )
# Past the count cap, best match ranks the newest this-many title matches plus the newest
# this-many matches (listings.search.ranking); below it, every match.
SEARCH_RANK_CANDIDATES = env.int("SEARCH_RANK_CANDIDATES", default=200)
# "Did you mean": the least pg_trgm similarity of a suggested word to the typed one (0.3 at
# least: the trigram index answers from pg_trgm.similarity_threshold, 0.3 by default).
SEARCH_SPELLING_MIN_SIMILARITY = env.float("SEARCH_SPELLING_MIN_SIMILARITY", default=0.3)
# Optional search engine (listings.search.engine): "" = PostgreSQL only; "tantivy" = keyword
# and attribute searches answered from a tantivy index at SEARCH_ENGINE_PATH, PostgreSQL
# when it is missing or broken. Engine pages stop at SEARCH_ENGINE_MAX_OFFSET results; a
# radius search is taken when its box holds at most SEARCH_ENGINE_RADIUS_SCAN matches.
SEARCH_ENGINE = env.str("SEARCH_ENGINE", default="")
SEARCH_ENGINE_PATH = env.str("SEARCH_ENGINE_PATH", default=str(BASE_DIR / ".data" / "search-index"))
SEARCH_ENGINE_MAX_OFFSET = env.int("SEARCH_ENGINE_MAX_OFFSET", default=1_000)
SEARCH_ENGINE_RADIUS_SCAN = env.int("SEARCH_ENGINE_RADIUS_SCAN", default=20_000)
# The reindex's indexing memory: one writer thread, a new segment each time it fills. The
# fewer the segments, the faster the searches (each segment answers each query term): 1M
# listings fit one segment in 1,000 MB (RSS ~1 GB while it runs; bench/README.md).
SEARCH_ENGINE_REINDEX_MEMORY_MB = env.int("SEARCH_ENGINE_REINDEX_MEMORY_MB", default=1_000)
if not 15 <= SEARCH_ENGINE_REINDEX_MEMORY_MB <= 4_000:
    # tantivy's bounds for one writer thread: at least 15 MB, under 4 GiB.
    raise ImproperlyConfigured(
        f"SEARCH_ENGINE_REINDEX_MEMORY_MB must be between 15 and 4000, not {SEARCH_ENGINE_REINDEX_MEMORY_MB}."
    )
# The engine's sync (listings.search.sync): the outbox is applied every this-many seconds
# (a divisor of 60), this-many rows per index commit, for at most this-many seconds a run;
# with the engine off, outbox rows older than SEARCH_OUTBOX_KEEP_HOURS are pruned.
SEARCH_SYNC_INTERVAL_SECONDS = env.int("SEARCH_SYNC_INTERVAL_SECONDS", default=5)
SEARCH_SYNC_BATCH = env.int("SEARCH_SYNC_BATCH", default=500)
SEARCH_SYNC_MAX_SECONDS = env.float("SEARCH_SYNC_MAX_SECONDS", default=30)
SEARCH_OUTBOX_KEEP_HOURS = env.float("SEARCH_OUTBOX_KEEP_HOURS", default=24)
# Seconds a listing page's shared fragment, and a visitor's whole page, live in Redis
# (versioned keys retire them sooner).
LISTING_PAGE_CACHE_TTL = env.int("LISTING_PAGE_CACHE_TTL", default=300)
# Seconds the home page's lists (categories, featured, newest) stay cached; any listing change
# retires them at once (listings.selectors.home_cache_version), a feature expiring within this.
HOME_CACHE_TTL = env.int("HOME_CACHE_TTL", default=60)
# Seconds a process trusts the category tree's version it last read before asking Redis again
# (listings.categories.category_tree): a category change reaches the other processes within
# this. 0: ask on every call.
CATEGORY_TREE_CHECK_SECONDS = env.float("CATEGORY_TREE_CHECK_SECONDS", default=1.0)
if CATEGORY_TREE_CHECK_SECONDS < 0:
    raise ImproperlyConfigured(
        f"CATEGORY_TREE_CHECK_SECONDS is seconds, 0 or more, not {CATEGORY_TREE_CHECK_SECONDS}."
    )
# Seconds a visitor's (not signed-in) whole search page stays cached under its URL and the
# home version (any listing change retires it at once); 0: off.
SEARCH_PAGE_CACHE_TTL = env.int("SEARCH_PAGE_CACHE_TTL", default=60)
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
    # Load balancers probe over plain HTTP: the health endpoints answer without the redirect.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^health/$"]
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
    # Quiet in web processes and commands (it logs every task registration); the job worker
    # (marketplace/worker.py) sets it to INFO: one line per job.
    "loggers": {"procrastinate": {"level": env.str("PROCRASTINATE_LOG_LEVEL", default="WARNING")}},
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
# uvicorn worker processes (one per core: a process runs Python on one core at most); seconds a
# worker finishes in-flight requests after SIGTERM before they are cancelled; seconds more before
# the runner kills whatever is left. 5 + 3: stopped within 10 s of SIGTERM, even under load.
SERVE_WORKERS = env.int("SERVE_WORKERS", default=os.cpu_count() or 2)
SERVE_GRACEFUL_TIMEOUT = env.int("SERVE_GRACEFUL_TIMEOUT", default=5)
SERVE_KILL_AFTER = env.int("SERVE_KILL_AFTER", default=3)
# Proxy addresses whose X-Forwarded-For/-Proto uvicorn trusts (REMOTE_ADDR, HTTPS).
SERVE_FORWARDED_ALLOW_IPS = env.str("SERVE_FORWARDED_ALLOW_IPS", default="127.0.0.1")

# --- Listing editor -------------------------------------------------------------------------
# New listings (drafts) a seller may create per hour, counted in Redis; the next gets a 429.
LISTINGS_CREATED_PER_HOUR = env.int("LISTINGS_CREATED_PER_HOUR", default=20)
# Staff (issue 15): listings of sellers without the seller-verified badge wait for approval.
LISTING_APPROVAL_REQUIRED = env.bool("LISTING_APPROVAL_REQUIRED", default=False)
REPORTS_PER_HOUR = env.int("REPORTS_PER_HOUR", default=10)  # reports one member may file per hour
STAFF_DASHBOARD_CACHE_SECONDS = env.int("STAFF_DASHBOARD_CACHE_SECONDS", default=300)

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

# --- Notifications (notifications app) -------------------------------------------------------
# How long the header's unread-notifications count is cached (dropped after every change anyway).
NOTIFICATION_UNREAD_CACHE_SECONDS = env.int("NOTIFICATION_UNREAD_CACHE_SECONDS", default=3600)
# Notifications per page of the notification centre (keyset pages, newest first).
NOTIFICATIONS_PAGE_SIZE = env.int("NOTIFICATIONS_PAGE_SIZE", default=20)
# A message still unread this many minutes after it was sent is mailed once (the digest job).
MESSAGE_EMAIL_DELAY_MINUTES = env.int("MESSAGE_EMAIL_DELAY_MINUTES", default=15)
# Unread messages older than this are left out of the digest (a first run does not mail history).
MESSAGE_EMAIL_MAX_AGE_HOURS = env.int("MESSAGE_EMAIL_MAX_AGE_HOURS", default=48)
# Hours before a review window closes when a party who has not reviewed yet is reminded, once.
REVIEW_REMINDER_HOURS = env.int("REVIEW_REMINDER_HOURS", default=48)

# --- Payments: fees, escrow, checkout expiry, reconciliation -------------------------------
# Platform fee in basis points of the subtotal (1000 = 10%), rounded down to the minor unit.
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# Days a paid transaction's money is held before release_escrow pays the seller.
ESCROW_RELEASE_DAYS = env.int("ESCROW_RELEASE_DAYS", default=7)
# Minutes an unpaid checkout holds its listing before expire_checkouts cancels it.
CHECKOUT_EXPIRY_MINUTES = env.int("CHECKOUT_EXPIRY_MINUTES", default=30)
# Offers (offers app): hours an offer or a counter waits for its answer before it expires,
# hours the buyer has to pay an accepted offer (its checkout holds the listing meanwhile),
# offers one buyer may make per hour (429 after), and the largest amount accepted (cents).
OFFER_EXPIRY_HOURS = env.int("OFFER_EXPIRY_HOURS", default=48)
OFFER_CHECKOUT_HOURS = env.int("OFFER_CHECKOUT_HOURS", default=24)
OFFERS_PER_HOUR = env.int("OFFERS_PER_HOUR", default=20)
OFFER_MAX_CENTS = env.int("OFFER_MAX_CENTS", default=100_000_000_00)
# Saved searches (alerts app): how many one member may keep, and how far back each matching
# run re-reads before its watermark (a listing whose publication committed late is not missed).
SAVED_SEARCHES_MAX = env.int("SAVED_SEARCHES_MAX", default=50)
ALERTS_MATCH_OVERLAP_SECONDS = env.int("ALERTS_MATCH_OVERLAP_SECONDS", default=300)
# Listings one matching run records per saved search (the alert links to the search for more).
ALERTS_MAX_LISTINGS_PER_RUN = env.int("ALERTS_MAX_LISTINGS_PER_RUN", default=10)
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

# --- Backups and members' data (manage.py backup / restore; privacy app) ---------------------
BACKUP_DIR = env.path("BACKUP_DIR", default=BASE_DIR / ".data" / "backups")
BACKUP_KEEP = env.int("BACKUP_KEEP", default=7)  # newest backups kept by `manage.py backup`; 0 keeps all
PG_BIN_DIR = env.str("PG_BIN_DIR", default="")  # pg_dump/pg_restore directory; found by version when empty
DATA_EXPORT_TTL_HOURS = env.int("DATA_EXPORT_TTL_HOURS", default=72)  # a data export zip lives this long
DATA_EXPORT_PER_DAY = env.int("DATA_EXPORT_PER_DAY", default=1)  # exports a member may ask for per 24 hours

# --- Analytics events (analytics/tracking.py) -------------------------------------------------
# Store client addresses truncated (IPv4 last octet, IPv6 last 80 bits zeroed).
ANALYTICS_TRUNCATE_IP = env.bool("ANALYTICS_TRUNCATE_IP", default=True)
# Events per COPY batch when the flush job writes the Redis buffer into the events table.
ANALYTICS_FLUSH_BATCH = env.int("ANALYTICS_FLUSH_BATCH", default=5000)
# Most events the Redis buffer holds (the oldest are dropped past it while the flush is down).
ANALYTICS_BUFFER_MAX = env.int("ANALYTICS_BUFFER_MAX", default=1_000_000)

# --- Health checks (/healthz, /readyz, manage.py healthcheck: marketplace/health.py) ---------
# Parts whose failure makes /readyz answer 503 (the others only show as "degraded"); from
# database, replica, redis, channel_layer, jobs, stripe.
HEALTH_REQUIRED = env.list("HEALTH_REQUIRED", default=["database", "redis", "channel_layer"])
# Seconds each check may take before it counts as down.
HEALTH_TIMEOUT_SECONDS = env.float("HEALTH_TIMEOUT_SECONDS", default=2.0)
# The job worker counts as down when its last heartbeat is older than this (seconds), and as
# degraded when more than this many jobs have failed.
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=120)
HEALTH_FAILED_JOBS_MAX = env.int("HEALTH_FAILED_JOBS_MAX", default=0)

# --- Database report (manage.py db_report) -----------------------------------------------------
# A statement or open transaction running longer than this (seconds) is listed as long-running.
DB_REPORT_LONG_QUERY_SECONDS = env.float("DB_REPORT_LONG_QUERY_SECONDS", default=60.0)
