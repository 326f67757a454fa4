"""Test settings: the same configuration on a throwaway database and Redis namespace."""

import os
import tempfile

# The tests run in development mode, explicitly (DEBUG defaults to false): whatever the
# environment or .data/dev.env say. Subprocesses inherit it; the production-mode tests pass
# DEBUG=false themselves.
os.environ["DEBUG"] = "true"

from marketplace.settings import *  # noqa: E402, F403
from marketplace.settings import CACHES, CHANNEL_LAYERS, DATABASES, REDIS_URL, env, redis_url_with_db

# pytest-django creates test_<name> and drops it afterwards; Redis gets its own logical DB
# so cache.clear() in tests never touches development data.
TEST_REDIS_URL = redis_url_with_db(REDIS_URL, 15)
CACHES["default"]["LOCATION"] = TEST_REDIS_URL
# One prefix per test run: concurrent runs on one machine share DB 15 but never each other's keys
# (conftest clears only this prefix). Subprocesses inherit it through the environment.
os.environ.setdefault("TEST_CACHE_PREFIX", f"test-{os.getpid()}")
CACHES["default"]["KEY_PREFIX"] = os.environ["TEST_CACHE_PREFIX"]
# One channel-layer prefix per test run too: the Redis watcher's epoch key and every group live
# under it, so two runs on one machine never close or hear each other's sockets.
os.environ.setdefault("TEST_CHANNEL_PREFIX", f"test-asgi-{os.getpid()}")
CHANNEL_LAYERS["default"]["CONFIG"] = {"hosts": [TEST_REDIS_URL], "prefix": os.environ["TEST_CHANNEL_PREFIX"]}

# Private files (message attachments) of a test run go to a throwaway directory.
STORAGES["private"]["OPTIONS"]["location"] = tempfile.mkdtemp(prefix="test-private-media-")  # noqa: F405

# Argon2 costs ~0.1 s a hash; tests do not measure password hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Parallel runs on one machine (several checkouts, or people) can name their own test database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
# The suite reads the primary only, even while `make replica` runs: the replica tests
# (tests/marketplace/test_replicas.py) start and configure a real one themselves.
for _alias in DATABASE_REPLICA_ALIASES:  # noqa: F405
    DATABASES.pop(_alias)
DATABASE_REPLICA_ALIASES = []
