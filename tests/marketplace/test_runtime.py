import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from marketplace.settings import redis_url_with_db

BASE_DIR = Path(settings.BASE_DIR)
pytestmark = pytest.mark.django_db


def test_database_is_postgresql_15_or_newer_with_pg_stat_statements():
    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 150000
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_preload_libraries")
        assert "pg_stat_statements" in cursor.fetchone()[0]


def test_tests_use_their_own_database_and_redis_namespace():
    assert connection.settings_dict["NAME"].startswith("test_")
    assert settings.CACHES["default"]["LOCATION"].endswith("15")
    assert get_redis_connection("default").ping()


def test_health_page_reports_both_services(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/15"),
        ("redis://:secret@cache.internal:6380", "redis://:secret@cache.internal:6380/15"),
        ("unix:///srv/redis.sock", "unix:///srv/redis.sock?db=15"),
        ("unix:///srv/redis.sock?db=2&timeout=3", "unix:///srv/redis.sock?db=15&timeout=3"),
    ],
)
def test_redis_url_with_db(url, expected):
    assert redis_url_with_db(url, 15) == expected


def _manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7#kQ2!vR9$mZ4@pL8^wN3&tY6*uJ1(eH5)gB0-cF2=aD9+sV7_qW4~rX8",
    "ALLOWED_HOSTS": "marketplace.example.com",
    # Real Stripe, real email, the public address: what a deploy sets.
    "STRIPE_MODE": "live",
    "STRIPE_SECRET_KEY": "sk_live_marketplace",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_marketplace",
    "STRIPE_WEBHOOK_SECRET": "whsec_marketplace",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "SITE_URL": "https://marketplace.example.com",
}


def test_check_deploy_is_clean_in_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_about_development_defaults_left_in_production():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **{
            **PRODUCTION,
            "STRIPE_WEBHOOK_SECRET": "",
            "SITE_URL": "http://127.0.0.1:8000",
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        },
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check_id in ("marketplace.W002", "marketplace.W003", "marketplace.W004"):
        assert check_id in output, output


def _settings_value(
    expression: str, env: dict, *, read_env_files: bool = True
) -> subprocess.CompletedProcess:
    """``expression`` evaluated on freshly imported settings with ``env`` only (DEBUG and
    SECRET_KEY removed from the inherited environment); ``read_env_files=False`` ignores
    .data/services.env and .data/dev.env, as on a fresh clone."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    patch = (
        ""
        if read_env_files
        else "import environ; environ.Env.read_env = staticmethod(lambda *a, **k: None)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", f"{patch}import marketplace.settings as s\nprint({expression})"],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_defaults_to_false_and_then_a_secret_key_is_required():
    result = _settings_value("s.DEBUG, s.ALLOWED_HOSTS", {"SECRET_KEY": "k" * 60}, read_env_files=False)
    assert result.stdout.split() == ["False", "[]"], result.stderr
    result = _settings_value("s.DEBUG", {}, read_env_files=False)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false" in result.stderr
    assert "make run" in result.stderr  # how a developer gets development mode
    assert "django-insecure" not in result.stdout


def test_development_mode_is_explicit():
    # DEBUG=true (tests/settings.py, `make run`): the development key and local hosts.
    result = _settings_value("s.DEBUG, s.SECRET_KEY.startswith('django-insecure')", {"DEBUG": "true"})
    assert result.stdout.split() == ["True", "True"], result.stderr
    # tests/settings.py set it for this run, whatever the environment said.
    assert os.environ["DEBUG"] == "true"


def test_make_run_writes_development_mode_for_the_checkout(tmp_path):
    dev_env = tmp_path / "data" / "dev.env"
    result = subprocess.run(
        [shutil.which("make"), "--no-print-directory", f"DEV_ENV={dev_env}", str(dev_env)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG=true" in dev_env.read_text().splitlines()
    makefile = (BASE_DIR / "Makefile").read_text()
    assert "run: export DEBUG ?= true" in makefile and "run: migrate $(DEV_ENV)" in makefile
    assert "serve: export DEBUG = false" in makefile
    assert (
        'read_env(BASE_DIR / ".data" / "dev.env")' in (BASE_DIR / "marketplace" / "settings.py").read_text()
    )


LOCAL_STRIPE = {"STRIPE_MODE": "local", "STRIPE_SECRET_KEY": "sk_test_localstripe"}


def test_production_mode_refuses_simulated_payments():
    result = _manage("check", **{**PRODUCTION, **LOCAL_STRIPE})
    assert result.returncode != 0
    assert "marketplace.E001" in result.stderr
    assert "ALLOW_SIMULATED_PAYMENTS=true" in result.stderr
    # Every command that runs the checks refuses too (migrate, the server runner's check).
    result = _manage("migrate", "--check", **{**PRODUCTION, **LOCAL_STRIPE})
    assert result.returncode != 0 and "marketplace.E001" in result.stderr


def test_simulated_payments_need_an_explicit_opt_in_and_stay_visible():
    result = _manage("check", **{**PRODUCTION, **LOCAL_STRIPE}, ALLOW_SIMULATED_PAYMENTS="true")
    assert result.returncode == 0, result.stderr
    assert "marketplace.W001" in result.stdout + result.stderr
    # Development mode simulates payouts without asking.
    result = _manage("check", **{**PRODUCTION, **LOCAL_STRIPE, "DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert "marketplace.E001" not in result.stdout + result.stderr


@pytest.mark.parametrize("module", ["marketplace.asgi", "marketplace.wsgi"])
def test_any_server_refuses_to_load_the_application_with_a_check_error(module, tmp_path):
    # ASGI/WSGI servers run no system checks: the application itself refuses to load.
    (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1", "hash": ""}')
    env = {
        **os.environ,
        **PRODUCTION,
        **LOCAL_STRIPE,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "STATIC_ROOT": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "marketplace.E001" in result.stderr
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}; print('loaded')"],
        cwd=BASE_DIR,
        env={**env, "ALLOW_SIMULATED_PAYMENTS": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "loaded", result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "marketplace.settings", "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("megabytes", ["14", "4300"])
def test_settings_refuse_a_reindex_memory_tantivy_cannot_use(megabytes):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "marketplace.settings",
            "SEARCH_ENGINE_REINDEX_MEMORY_MB": megabytes,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"SEARCH_ENGINE_REINDEX_MEMORY_MB must be between 15 and 4000, not {megabytes}" in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("SEARCH_FACETS_TTL", "SEARCH_FACETS_TTL is seconds, 0 or more (0: no cache), not -5"),
        ("CATEGORY_TREE_CHECK_SECONDS", "CATEGORY_TREE_CHECK_SECONDS is seconds, 0 or more, not -5"),
    ],
)
def test_settings_refuse_negative_seconds(name, message):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", name: "-5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_migrations_match_the_models():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_home_page_renders_with_its_stylesheet(client, django_assert_max_num_queries):
    # The category tree (cached afterwards), featured listings, newest listings.
    with django_assert_max_num_queries(3):
        response = client.get("/")
    assert response.status_code == 200
    assert b'href="/static/css/site.css"' in response.content
    assert client.get("/static/css/site.css").status_code == 200


@pytest.mark.parametrize("module", ["marketplace.asgi", "marketplace.wsgi"])
def test_any_server_refuses_to_load_before_collectstatic(module, tmp_path):
    # The input: a DEBUG=false server started where only `make run` collected (no
    # manifest) answered 500 on every page; it now refuses to start, saying what to run.
    env = {
        **os.environ,
        **PRODUCTION,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "STATIC_ROOT": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "No static files manifest" in result.stderr and "collectstatic" in result.stderr
