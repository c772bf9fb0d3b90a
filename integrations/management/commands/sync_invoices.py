"""sync_invoices [--once] [--repair] [--job requests|autopay|poll|reconcile]

Runs the invoice sync jobs in this process: payment requests (and due retries), the
poller and the reconciler; ``--job`` runs one (autopay only when named). Without
``--once`` it repeats every ``--interval`` seconds. ``--repair`` first creates the
sync records that are missing.
"""

import time

from django.core.management.base import BaseCommand

from integrations.services.sync.jobs import run_jobs
from integrations.services.sync.records import sync_records_repair

JOBS = ("requests", "poll", "reconcile")


class Command(BaseCommand):
    help = "Run invoice sync jobs: payment requests, retries, polling, reconciliation (and autopay with --job)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run once and exit.")
        parser.add_argument("--repair", action="store_true", help="Create missing sync records first.")
        parser.add_argument("--job", choices=[*JOBS, "autopay"], action="append", help="Run only these jobs.")
        parser.add_argument("--interval", type=float, default=60.0, help="Seconds between runs (default 60).")

    def handle(self, *args, **options):
        if options["repair"]:
            made = sync_records_repair()
            self.stdout.write(f"repair: {made} sync record(s) created")
        jobs = options["job"] or list(JOBS)
        while True:
            for job in jobs:
                counts = run_jobs(job)
                summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to do"
                self.stdout.write(f"{job}: {summary}")
            if options["once"]:
                return
            time.sleep(options["interval"])
