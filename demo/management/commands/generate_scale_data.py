"""``manage.py generate_scale_data --invoices N [--seed S]``: a large ledger, written with COPY.

See ``demo.scale_data`` for what it writes. PostgreSQL only; run it on a database
that is not in production use (each chunk locks the ledger tables while it writes).
"""

import datetime

from django.core.management.base import BaseCommand, CommandError

from demo.scale_data import generate


class Command(BaseCommand):
    help = "Write a realistic ledger of N invoices (contacts, batches, lines, payments, journal) with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--invoices", type=int, required=True, help="How many invoices (e.g. 1000000).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument(
            "--today",
            type=datetime.date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="Last day of the data.",
        )

    def handle(self, *args, invoices: int, seed: int, today, **options):
        def progress(done, total):
            self.stdout.write(f"  {done:,} / {total:,} invoices")

        try:
            stats = generate(invoices=invoices, seed=seed, today=today, progress=progress)
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Scale data written: {stats.summary()}"))
