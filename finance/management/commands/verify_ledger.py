"""``manage.py verify_ledger [--limit N]``: recompute every balance, check every invariant.

Exit 0 with a one-line summary when the ledger holds; exit 1 with a report listing each
mismatch (which object, stored vs recomputed) otherwise. Writes nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from finance.ledger_check import DEFAULT_LIMIT, verify_ledger


def positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError(value)
    return n


class Command(BaseCommand):
    help = "Recompute every stored balance and check every ledger invariant; exit 1 with a report on any mismatch."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=positive_int,
            default=DEFAULT_LIMIT,
            metavar="N",
            help=f"List at most N mismatches per check (default {DEFAULT_LIMIT}); the counts are always complete.",
        )

    def handle(self, *args, limit: int, verbosity: int = 1, **options):
        report = verify_ledger(limit=limit)
        if report.ok:
            if verbosity >= 2:
                self.stdout.write(report.format())
            else:
                self.stdout.write(self.style.SUCCESS(report.summary()))
            return
        self.stdout.write(report.format())
        raise CommandError(f"Ledger check failed: {report.summary()}", returncode=1)
