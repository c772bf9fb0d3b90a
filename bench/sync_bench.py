"""Invoice sync benchmark: payment requests for 10,000 new invoices sent to the sandbox
processor over HTTP by a real Celery worker on Redis.

    createdb -h 127.0.0.1 -U postgres pc_bench_sync
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_sync REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/sync_bench.py
    dropdb -h 127.0.0.1 -U postgres pc_bench_sync

It migrates the scratch database, builds a chart of accounts and a sandbox gateway
account that syncs invoices, serves Django (and with it the sandbox processor) with
gunicorn in a separate process (--web-workers gthread workers of --web-threads threads)
and starts ``celery worker`` (--concurrency processes, default 2) on the Redis broker.
Not timed: --invoices invoices are created through ``invoice_create`` (500 per
transaction); their sync records are made by the signal receiver and the task messages
those transactions queue are held back. Then, in the same run, it times:

- the baseline: --baseline payment requests sent straight from this process through the
  sandbox adapter to the same gunicorn sandbox, as many at once as the worker keeps in
  flight (processes × ``INVOICE_SYNC_REQUEST_CONCURRENCY``), over one keep-alive httpx
  client, with no database work on our side: the raw HTTP floor of the sandbox;
- the sync: the held task messages (200 record ids each) sent to Redis at once, until the
  worker has marked every record synced (polled once a second); each task commits its
  keys, sends its requests side by side and records the answers as they arrive.

It prints requests/second of each, the ratio of the sync to the baseline, and checks
that the sandbox holds exactly one payment request per invoice.
"""

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
os.environ["DEBUG"] = "false"


def serve(workers: int, threads: int, env: dict):
    """gunicorn serving Django (and with it the sandbox processor) on 127.0.0.1:<free
    port>, as a separate process; returns (process, base URL) once it answers."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "paycentral.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            # Idle keep-alive connections are kept longer than the client keeps them
            # (httpx: 5 s), so that the client never reuses one the server is closing.
            "--keep-alive",
            "10",
            "--log-level",
            "warning",
        ],
        cwd=str(ROOT),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/sandbox/processor/v1/payment_requests", timeout=2)
            return server, url
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                sys.exit("gunicorn did not start.")
            time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes of the sandbox")
    parser.add_argument("--web-threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")
    if not os.environ.get("REDIS_URL", "").startswith("redis"):
        sys.exit("Set REDIS_URL (the Celery broker the worker listens on).")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from finance.models import Contact, FinancialEntity, GatewayAccount, GLAccount, PaymentMethod, Product
    from finance.services.batches import batch_create

    call_command("migrate", verbosity=0)
    if Contact.objects.exists():
        sys.exit("The database is not empty; use a fresh scratch database.")

    entity = FinancialEntity.objects.create(code="BENCH", name="Bench", currency="USD")

    def acct(code, name, type_, role):
        return GLAccount.objects.create(entity=entity, code=code, name=name, type=type_, role=role)

    cash = acct("1000-00", "Cash", "asset", "cash")
    acct("1200-00", "AR", "asset", "ar")
    acct("2100-00", "Unapplied cash", "liability", "unapplied_cash")
    income = acct("4000-10", "Dues", "income", "income")
    product = Product.objects.create(code="DUES", name="Dues", entity=entity, income_account=income, price=100)
    account = GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=entity, invoice_sync=True
    )
    PaymentMethod.objects.create(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=cash, gateway_account=account
    )
    contacts = Contact.objects.bulk_create(
        Contact(party_id=str(100000 + i), name=f"Member {i}", kind="individual") for i in range(500)
    )
    batch = batch_create(date=timezone.localdate(), description="bench")

    api_key = settings.SANDBOX_PROCESSOR_API_KEY
    web, web_url = serve(args.web_workers, args.web_threads, {**os.environ, "DEBUG": "false"})
    base_url = web_url + "/sandbox/processor/v1"
    settings.SANDBOX_PROCESSOR_URL = base_url
    try:
        run(args, base_url, api_key, locals())
    finally:
        web.terminate()
        web.wait(timeout=60)


def run(args, base_url, api_key, ctx):
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from finance.services.invoices import LineSpec, invoice_create
    from integrations import tasks
    from integrations.models import InvoiceSyncRecord
    from integrations.services.sync.jobs import run_jobs
    from integrations.services.sync.payment_requests import request_concurrency
    from paycentral.celery import app as celery_app
    from processors import PaymentRequestSpec
    from processors.sandbox import SandboxProcessor
    from sandboxes.processor.models import SandboxPaymentRequest

    contacts, entity, batch, product = ctx["contacts"], ctx["entity"], ctx["batch"], ctx["product"]

    # Not timed: the invoices, their sync records, and the task messages held back.
    held: list[list[int]] = []
    real_delay = tasks.create_payment_requests.delay
    tasks.create_payment_requests.delay = lambda ids=None: held.append(ids)
    t0 = time.perf_counter()
    for start in range(0, args.invoices, 500):
        with transaction.atomic():
            for i in range(start, min(start + 500, args.invoices)):
                invoice_create(
                    bill_to=contacts[i % len(contacts)],
                    entity=entity,
                    batch=batch,
                    lines=[LineSpec(product=product, unit_price=Decimal(50 + i % 100))],
                    date=timezone.localdate(),
                )
    tasks.create_payment_requests.delay = real_delay
    records = InvoiceSyncRecord.objects.count()
    print(f"setup: {args.invoices} invoices and {records} sync records in {time.perf_counter() - t0:.1f} s")
    print(f"       {len(held)} task messages held ({sum(len(h) for h in held)} record ids)")

    # Baseline: the floor of the same gunicorn sandbox, raw HTTP: requests sent straight
    # through the adapter from here, as many at once as the worker sends (processes ×
    # requests in flight per task), over one keep-alive client, no database work on our side.
    in_flight = args.concurrency * request_concurrency()

    def send(i):
        processor.create_payment_request(
            PaymentRequestSpec(
                amount=Decimal("50.00"),
                currency="USD",
                idempotency_key=f"baseline-{uuid.uuid4().hex}",
                customer_ref="100000",
                metadata={"invoice": f"B{i}", "sync_record": "0"},
            )
        )

    with SandboxProcessor(base_url=base_url, api_key=api_key, timeout=30) as processor:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            list(pool.map(send, range(args.baseline)))
        baseline_s = time.perf_counter() - t0
    baseline_rate = args.baseline / baseline_s
    print(
        f"baseline: {args.baseline} requests straight through the adapter to the gunicorn sandbox "
        f"({args.web_workers} workers × {args.web_threads} threads), {in_flight} at once, "
        f"in {baseline_s:.1f} s: {baseline_rate:,.0f}/s"
    )

    env = {
        **os.environ,
        "SANDBOX_PROCESSOR_URL": base_url,
        "SANDBOX_PROCESSOR_API_KEY": api_key,
        "DEBUG": "false",
    }
    celery_app.control.purge()
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "paycentral",
            "worker",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=str(ROOT),
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit("The Celery worker did not start.")
        t0 = time.perf_counter()
        for ids in held:
            tasks.create_payment_requests.delay(ids)
        # Until every record is synced or left in error (an answer lost: the next run of
        # the job, as the beat makes it, asks again with the same key).
        done = 0
        while done < records:
            if time.perf_counter() - t0 > args.timeout:
                sys.exit(f"Timed out: {done} of {records} records synced or in error.")
            time.sleep(1.0)
            done = InvoiceSyncRecord.objects.filter(Q(synced_to_processor=True) | Q(has_error=True)).count()
        sync_s = time.perf_counter() - t0
        lost = InvoiceSyncRecord.objects.filter(synced_to_processor=False).count()
        if lost:
            print(f"{lost} answers lost in the run; the next run of the job (not timed):", end=" ")
            print(run_jobs("requests"))
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    rate = (records - lost) / sync_s
    requests_at_sandbox = SandboxPaymentRequest.objects.exclude(metadata__sync_record="0").count()
    in_error = InvoiceSyncRecord.objects.filter(has_error=True).count()
    print(
        f"sync: {records} payment requests by a Celery worker (concurrency {args.concurrency}, "
        f"{request_concurrency()} requests in flight per task) on Redis "
        f"in {sync_s:.1f} s: {rate:,.0f} requests/s"
    )
    print(f"ratio to the baseline: {rate / baseline_rate:.2f} ×")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} (2 CPUs shared with whatever else runs)")
    print(f"check: {requests_at_sandbox} payment requests at the sandbox for {records} records; {in_error} in error")
    if requests_at_sandbox != records or in_error:
        sys.exit("FAILED: not exactly one payment request per invoice.")


if __name__ == "__main__":
    main()
