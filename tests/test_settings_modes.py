"""The runtime modes: embedded default, services, production (`check --deploy`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL); print(s.DEBUG); "
    "print(s.SETTINGS_MODE_MESSAGE)"
)


def _run(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    env.update({"PAYCENTRAL_VAR_DIR": str(tmp_path / "var")}, **env_extra)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_embedded_default__embedded_postgres_filesystem_broker_debug__data_kept_across_restarts(tmp_path):
    """No DATABASE_URL: the first connection starts the embedded PostgreSQL server (data
    in var/pgdata, Unix socket); stopped and started again, what was written is still
    there."""
    var = tmp_path / "var"
    settings_env = {"DJANGO_SETTINGS_MODULE": "paycentral.settings"}
    write = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); c.execute('CREATE TABLE kept (x int)'); c.execute('INSERT INTO kept VALUES (42)'); "
        "c.execute('SELECT version()'); print(c.fetchone()[0])"
    )
    read = "import django; django.setup(); from django.db import connection; c = connection.cursor(); " + (
        "c.execute('SELECT x FROM kept'); print(c.fetchone()[0])"
    )
    try:
        out = _run([sys.executable, "-c", PROBE], settings_env, tmp_path)
        assert out.returncode == 0, out.stderr
        engine, broker, debug, message = out.stdout.strip().splitlines()
        assert engine == "core.embedded_backend"  # Django's PostgreSQL backend, started on first use
        assert broker == "filesystem://"
        assert debug == "True"
        assert message.startswith(f"Embedded default mode: embedded PostgreSQL (data in {var / 'pgdata'}")
        assert (var / "broker" / "out").is_dir()
        assert not (var / "pgdata").exists()  # reading the settings starts no server

        out = _run([sys.executable, "-c", write], settings_env, tmp_path)  # the first connection does
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("PostgreSQL ") and (var / "pgdata" / "PG_VERSION").is_file()
        stopped = _run([sys.executable, "-m", "core.embedded_db", "stop"], settings_env, tmp_path)
        assert stopped.stdout.strip() == "stopped", stopped.stderr
        status = _run([sys.executable, "-m", "core.embedded_db", "status"], settings_env, tmp_path)
        assert status.stdout.startswith("stopped")

        out = _run([sys.executable, "-c", read], settings_env, tmp_path)  # starts it again
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "42"
    finally:
        _run([sys.executable, "-m", "core.embedded_db", "stop"], settings_env, tmp_path)


def test_a_database_url_that_is_not_postgresql_is_refused(tmp_path):
    out = _run(
        [sys.executable, "-c", PROBE],
        {"DJANGO_SETTINGS_MODULE": "paycentral.settings", "DATABASE_URL": "sqlite:///x.sqlite3"},
        tmp_path,
    )
    assert out.returncode != 0
    assert "PostgreSQL (postgres://...) is the only database supported" in out.stderr


def test_services_mode__postgres_and_redis_from_environment(tmp_path):
    out = _run(
        [sys.executable, "-c", PROBE],
        {
            "DJANGO_SETTINGS_MODULE": "paycentral.settings",
            "DATABASE_URL": "postgres://u:p@db.internal:5432/pc",
            "REDIS_URL": "redis://cache.internal:6379/0",
        },
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    engine, broker, _debug, message = out.stdout.strip().splitlines()
    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://cache.internal:6379/0"
    assert message.startswith("Services mode")


def test_production_settings__check_deploy_has_no_warnings(tmp_path):
    out = _run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {
            "DJANGO_SETTINGS_MODULE": "paycentral.settings_production",
            "SECRET_KEY": "a-long-random-production-secret-key-for-the-check-0123456789-abcdefghij",
            "ALLOWED_HOSTS": "pay.example.org",
            "DATABASE_URL": "postgres://u:p@db.internal:5432/pc",
            "REDIS_URL": "redis://cache.internal:6379/0",
        },
        tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues (0 silenced)." in out.stdout


def test_collectstatic_with_the_production_storage_succeeds(tmp_path, settings):
    """Production serves hashed, compressed static files: every file must post-process
    (a vendored script that names a missing source map would fail the deploy)."""
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/chartjs/chart.umd.min.js" in manifest and "css/app.css" in manifest


def test_embedded_default__every_migration_applies_on_a_new_embedded_server(tmp_path):
    """`make run` migrates a new embedded server (PostgreSQL 18 from the wheel; the suite
    may run on another version): each migration must apply there too."""
    env = {"DJANGO_SETTINGS_MODULE": "paycentral.settings"}
    try:
        out = _run([sys.executable, "manage.py", "migrate", "--noinput"], env, tmp_path)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
        check = _run([sys.executable, "manage.py", "migrate", "--check"], env, tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        _run([sys.executable, "-m", "core.embedded_db", "stop"], env, tmp_path)


def test_embedded_db_command__data_folder_and_run_command(tmp_path, capsys):
    from core.embedded_db import main

    assert main(["status", "--data", str(tmp_path / "elsewhere")]) == 0
    assert capsys.readouterr().out.strip() == f"stopped ({tmp_path / 'elsewhere'})"
    with pytest.raises(SystemExit):
        main(["run"])  # a command is needed
    assert "run needs a command" in capsys.readouterr().err
