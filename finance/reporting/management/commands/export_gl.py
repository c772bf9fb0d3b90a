"""export_gl [--since DATE] [--until DATE] [--entity CODE] [--mode MODE] [--output FILE]

Exports every journal entry of a posted batch not exported yet (dated on or after
--since, on or before --until) and writes the CSV file to FILE, or to standard output.
When nothing is new it says so and exits 0 without writing a file.

The entries are marked exported in the same transaction that writes the file, and it
commits only once the whole file is written (to FILE.partial, then moved to FILE): a
run that is killed part-way marks nothing and leaves no partial FILE, so the next run
exports the same entries again. A run killed after the file is in place but before the
commit leaves a complete file that the next run replaces with the same entries.
"""

import datetime
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from finance.models import FinancialEntity
from finance.reporting.gl_csv import export_csv
from finance.reporting.models import GLExport
from finance.reporting.services import InvalidExport, NothingToExport, gl_export_create


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Export the journal of posted batches (each entry once) as a GL interface CSV file."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first entry date to take (YYYY-MM-DD)")
        parser.add_argument("--until", help="last entry date to take (YYYY-MM-DD)")
        parser.add_argument("--entity", help="financial entity code (default: every entity)")
        parser.add_argument("--mode", default=GLExport.Mode.DETAILED, choices=GLExport.Mode.values)
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--again", type=int, metavar="EXPORT_ID", help="write the file of an earlier export again")

    def handle(self, *args, **options):
        if options["again"]:
            try:
                export = GLExport.objects.get(pk=options["again"])
            except GLExport.DoesNotExist as exc:
                raise CommandError(f"No GL export {options['again']}.") from exc
            self._write(export, options["output"])
        else:
            entity = None
            if options["entity"]:
                try:
                    entity = FinancialEntity.objects.get(code=options["entity"])
                except FinancialEntity.DoesNotExist as exc:
                    raise CommandError(f"No financial entity with code {options['entity']!r}.") from exc
            try:
                with transaction.atomic():
                    export = gl_export_create(
                        mode=options["mode"],
                        date_from=_date(options["since"]) if options["since"] else None,
                        date_to=_date(options["until"]) if options["until"] else None,
                        entity=entity,
                    )
                    self._write(export, options["output"])
            except NothingToExport as exc:
                self.stderr.write(str(exc))
                return
            except InvalidExport as exc:
                raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"GL export {export.pk}: {export.entry_count} entries, {export.line_count} lines, "
            f"debits {export.total_debit} = credits {export.total_credit}"
            + (f", written to {options['output']}" if options["output"] else "")
            + "."
        )

    def _write(self, export: GLExport, output: str | None) -> None:
        """The export's file to ``output`` (complete or not at all), or to standard output."""
        if not output:
            for chunk in export_csv(export):
                self.stdout.write(chunk, ending="")
            self.stdout.flush()
            return
        partial = f"{output}.partial"
        with open(partial, "w", encoding="utf-8", newline="") as out:
            for chunk in export_csv(export):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, output)
