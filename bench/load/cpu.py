"""CPU seconds used so far by the load test's server side, for the per-request figure:

    python bench/load/cpu.py GUNICORN_PID  ->  "<web seconds> <database seconds>"

web: the gunicorn master's workers (user + system time, from /proc); database: the
PostgreSQL backends connected to DATABASE_URL's database, other than this script's own
(their pids from pg_stat_activity; readable from /proc when the server runs on this
machine, otherwise "-"). Backends that ended before the call are not counted: the
server keeps its connections for CONN_MAX_AGE seconds, longer than a run.
"""

import os
import sys
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def main() -> None:
    master = int(sys.argv[1])
    web = sum(cpu_seconds(p) or 0.0 for p in children(master))
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    seconds = [cpu_seconds(p) for p in pids]
    db = "-" if any(s is None for s in seconds) else f"{sum(s for s in seconds if s is not None):.3f}"
    print(f"{web:.3f} {db}")


if __name__ == "__main__":
    main()
