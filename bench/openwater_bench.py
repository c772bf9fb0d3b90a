"""OpenWater pushback benchmark on PostgreSQL: 10,000 paid invoices pulled from the
sandbox OpenWater over HTTP and pushed into the ledger in one run.

    createdb -h 127.0.0.1 -U postgres pc_bench_openwater
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_openwater .venv/bin/python bench/openwater_bench.py
    dropdb -h 127.0.0.1 -U postgres pc_bench_openwater

It migrates the scratch database, builds a chart of accounts, serves Django (and with
it the sandbox OpenWater) on a local port from a thread of this process, fills the
sandbox with --invoices paid invoices (500 applicants, 3 programs), and then times, in
the same run:

- the baseline: --baseline invoices written straight through the ledger services
  (``invoice_create`` + ``payment_receive``, one transaction each, same products,
  payment method and batch), with no HTTP, no sync records, no contact matching;
- the pushback: one ``run_pushback`` of the integration: list pages and one detail
  request per invoice over HTTP (fetched concurrently, keep-alive), contact
  matching/creation, the sync records, the invoices and payments of a page recorded in
  one transaction with the cursor.

The served sandbox answers one request before anything is timed (its first request
loads Django's URLs and views: a cold start of the stand-in for OpenWater). It prints
invoices/second of each, the ratio of the pushback to the baseline, and the
process's resident memory sampled during the run (first tenth vs the rest: flat means
the run does not hold the invoices it has pushed) and the load average before and
after. It also prints what does not depend on the load: the statements the run sent
per invoice pushed (counted on the run's own connection), the CPU time of this process
(``time.process_time``: the run, the HTTP client and the sandbox served from a thread)
and of the run's PostgreSQL backend per invoice. Options: --invoices N (10000),
--baseline N (1000), --page-size N (100), --verify (verify_ledger after, timed apart),
--profile FILE (a cProfile of the pushback run), --top N (the N statements of the run
with the most server time, from ``pg_stat_statements`` when the server has it loaded),
--sandbox-process (the sandbox served by a process of its own, as OpenWater is: the
process CPU is then the pushback's and its HTTP client's only).
"""

import argparse
import os
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
os.environ["DEBUG"] = "false"  # no query log kept in memory


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self):
        start = time.perf_counter()
        while not self.stop.wait(0.25):
            self.samples.append((time.perf_counter() - start, rss_mb()))


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a PostgreSQL backend on this machine (None when the
    server runs elsewhere): unlike the wall time it does not grow with the load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(on_reset=None):
    """Django on 127.0.0.1:<free port> in a thread; returns the base URL. ``on_reset``:
    called by a POST to /__reset__ (the sandbox process's request count)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    django_app = WSGIHandler()

    def app(environ, start_response):
        if on_reset is not None and environ.get("PATH_INFO") == "/__reset__":
            on_reset()
            start_response("204 No Content", [])
            return [b""]
        return django_app(environ, start_response)

    server.set_app(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def serve_sandbox(args):
    """The child of --sandbox-process: the sandbox with the same invoices, served on a free
    port written to the file named by --serve-sandbox; SIGTERM writes the number of
    requests served there and ends it."""
    import signal
    from datetime import datetime

    import django

    django.setup()
    from django.conf import settings

    from sandboxes.openwater.store import use_empty_store

    settings.OPENWATER_SANDBOX_ENABLED = True
    store = use_empty_store()
    store.generate(args.invoices, seed=7, programs=3, users=500, paid_from=datetime.fromisoformat(args.paid_from))
    base_url = serve(on_reset=lambda: setattr(store, "requests", 0))
    out = Path(args.serve_sandbox)

    def stop(*_):
        out.write_text(str(store.requests))
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    out.write_text(base_url)
    while True:
        time.sleep(3600)


def start_sandbox_process(args, paid_from):
    import subprocess
    import tempfile

    out = Path(tempfile.mkdtemp()) / "sandbox"
    cmd = [sys.executable, __file__, "--serve-sandbox", str(out), "--invoices", str(args.invoices)]
    child = subprocess.Popen([*cmd, "--paid-from", paid_from.isoformat()])
    for _ in range(600):
        if out.exists() and out.read_text().startswith("http"):
            return (child, out), out.read_text()
        time.sleep(0.1)
    child.kill()
    sys.exit("The sandbox process did not start.")


def stop_sandbox_process(child) -> int:
    process, out = child
    out.write_text("")
    process.terminate()
    process.wait(timeout=30)
    return int(out.read_text() or 0)


def main():  # noqa: C901 (a script read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--sandbox-process", action="store_true")
    parser.add_argument("--serve-sandbox", default="", help=argparse.SUPPRESS)  # the child of --sandbox-process
    parser.add_argument("--paid-from", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        return serve_sandbox(args)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from finance.ledger_check import verify_ledger
    from finance.models import Contact, FinancialEntity, GLAccount, Invoice
    from finance.services.batches import batch_create
    from finance.services.invoices import LineSpec, invoice_create
    from finance.services.payments import ApplicationSpec, payment_receive
    from integrations.openwater.client import OpenWaterClient
    from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping
    from integrations.openwater.pushback import run_pushback
    from integrations.openwater.services.setup import (
        integration_create,
        integration_initialize,
        program_initialize,
        programs_refresh,
    )
    from sandboxes.openwater.store import use_empty_store
    from sandboxes.openwater.views import sandbox_credentials

    settings.OPENWATER_SANDBOX_ENABLED = True
    call_command("migrate", verbosity=0)
    if Contact.objects.exists() or Invoice.objects.exists():
        sys.exit("The database is not empty; use a fresh scratch database.")

    entity = FinancialEntity.objects.create(code="BENCH", name="Bench", currency="USD")
    for code, name, type_, role in [
        ("1000-00", "Cash", "asset", "cash"),
        ("1200-00", "AR", "asset", "ar"),
        ("2100-00", "Unapplied cash", "liability", "unapplied_cash"),
        ("2150-00", "Refund clearing", "liability", "refund_clearing"),
        ("4000-10", "Program fees", "income", "income"),
    ]:
        GLAccount.objects.create(entity=entity, code=code, name=name, type=type_, role=role)

    paid_from = timezone.now() - timedelta(days=1)
    store = use_empty_store()
    store.generate(args.invoices, seed=7, programs=3, users=500, paid_from=paid_from)
    child = None
    if args.sandbox_process:  # the same sandbox, served by a process of its own
        child, base_url = start_sandbox_process(args, paid_from)
    else:
        base_url = serve()

    integration = integration_create(name="Bench", base_url=f"{base_url}/sandbox/openwater", **sandbox_credentials())
    integration = integration_initialize(
        integration=integration, entity=entity, skip_before=timezone.localdate() - timedelta(days=30)
    )
    programs_refresh(integration=integration, programs=store.program_list())
    for program in ProgramMapping.objects.filter(integration=integration):
        program_initialize(program=program)
    Integration.objects.filter(pk=integration.pk).update(page_size=args.page_size)
    integration.refresh_from_db()
    # The served sandbox's first request loads Django's URLs and views (a cold start of the
    # stand-in for OpenWater, not the pushback's work): made here, before anything is timed.
    with OpenWaterClient.for_integration(integration) as warm:
        warm.programs()
        if child is not None:
            warm.http.post(f"{base_url}/__reset__")  # its request count starts again
    store.requests = 0
    store.paths.clear()

    # Baseline: the same ledger writes, straight through the services.
    products = [p.product for p in ProgramMapping.objects.filter(integration=integration).select_related("product")]
    payers = [
        Contact.objects.create(party_id=str(900000 + n), name=f"Baseline payer {n}", email=f"b{n}@example.org")
        for n in range(50)
    ]
    batch = batch_create(date=timezone.localdate(), description="Baseline")
    method = integration.payment_method
    t0 = time.perf_counter()
    for n in range(args.baseline):
        inv = invoice_create(
            bill_to=payers[n % 50],
            entity=entity,
            batch=batch,
            lines=[LineSpec(product=products[n % 3], unit_price=Decimal("75.25"))],
            date=timezone.localdate(),
            source=Invoice.Source.OPENWATER,
        )
        line = inv.lines.get()
        payment_receive(
            payer=payers[n % 50],
            method=method,
            amount=line.amount,
            date=inv.date,
            batch=batch,
            applications=[ApplicationSpec(line=line, amount=line.amount)],
            entity=entity,
        )
    base_s = time.perf_counter() - t0
    base_rate = args.baseline / base_s

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_database()")
        backend_pid, database = cursor.fetchone()
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        stats = args.top > 0 and cursor.fetchone() is not None
        if stats:
            cursor.execute(
                "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = %s), 0)", [database]
            )
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    sampler = Sampler()
    rss_before = rss_mb()
    sampler.start()
    cpu0, backend0 = time.process_time(), backend_cpu_seconds(backend_pid)
    t0 = time.perf_counter()
    with connection.execute_wrapper(count):
        if profiler is not None:
            profiler.enable()
        run = run_pushback(integration.pk)
        if profiler is not None:
            profiler.disable()
    push_s = time.perf_counter() - t0
    cpu_s, backend1 = time.process_time() - cpu0, backend_cpu_seconds(backend_pid)
    sampler.stop.set()
    sampler.join()
    rate = run.pushed / push_s
    if child is not None:
        store.requests = stop_sandbox_process(child)
    if profiler is not None:
        profiler.dump_stats(args.profile)

    pushed = InvoiceSync.objects.filter(integration=integration, status="pushed").count()
    print(f"load average before the pushback: {load_before}; after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"sandbox: {args.invoices:,} paid invoices, {len(store.users)} applicants, page size {args.page_size}")
    print(f"baseline (services only, no HTTP): {args.baseline:,} invoices in {base_s:.1f} s = {base_rate:,.1f} inv/s")
    print(
        f"pushback run {run.status}: {run.pushed:,} pushed, {run.errors} errors, {run.pages} pages, "
        f"{store.requests:,} HTTP requests in {push_s:.1f} s = {rate:,.1f} invoices/s "
        f"({rate / base_rate:.2f} × the baseline)"
    )
    per = max(run.pushed, 1)
    backend = f"{(backend1 - backend0) / per * 1000:.2f} ms" if backend0 is not None and backend1 else "n/a"
    print(
        f"per invoice pushed: {statements[0] / per:.2f} statements (the run's connection), "
        f"{cpu_s / per * 1000:.2f} ms CPU of this process, {backend} CPU of its PostgreSQL backend"
    )
    if stats:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT calls, round(total_exec_time::numeric, 1), rows,
                          left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
                     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)
                    ORDER BY total_exec_time DESC LIMIT %s""",
                [database, args.top],
            )
            print("pg_stat_statements during the run (calls, server ms, rows, statement):")
            for calls, ms, rows, query in cursor.fetchall():
                print(f"  {calls:>7} {ms:>9} {rows:>8}  {query}")
    if pushed != args.invoices or run.errors:
        print(f"MISMATCH: {pushed} sync records pushed of {args.invoices}; {run.message}")
    samples = [mb for _, mb in sampler.samples]
    if samples:
        tenth = max(1, len(samples) // 10)
        print(
            f"RSS: {rss_before:.0f} MB before; first tenth of the run max {max(samples[:tenth]):.0f} MB; "
            f"rest max {max(samples[tenth:] or samples):.0f} MB; at the end {samples[-1]:.0f} MB"
        )
    if args.verify:
        t0 = time.perf_counter()
        report = verify_ledger()
        print(f"verify_ledger: {report.summary()} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
