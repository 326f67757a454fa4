import os
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


def test_check_deploy_is_clean_in_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x7#kQ2!vR9$mZ4@pL8^wN3&tY6*uJ1(eH5)gB0-cF2=aD9+sV7_qW4~rX8",
        ALLOWED_HOSTS="marketplace.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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
