"""``manage.py import_ar FILE [--dry-run] [--no-auto-apply] [--entity CODE] [--allow-repeats]``:
the AR payment importer.

Validates every row of FILE (iMIS AR Importer BH/PAY, comma or tab delimited, or a CSV
with a header row), prints the summary, and posts all rows in one transaction. With
``--dry-run`` it prints each row's plan and posts nothing. An invalid file prints the
errors (line and field) and exits 1 with nothing posted. ``--entity`` names the
financial entity whose cash account the header's code is (needed when several entities
have an account with that code, unless the header writes it ENTITY:CODE). Rows that
repeat payments posted before (same payer, check number and amount) are printed as
warnings and the file is not posted (exit 1) unless ``--allow-repeats`` confirms them.
"""

import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from finance.ar_import.services import ar_import_post, ar_import_validate, problems
from finance.errors import FinanceError
from finance.models import FinancialEntity
from finance.models_ar_import import ARImport, ARImportRow


class Command(BaseCommand):
    help = "Import AR payments (lockbox) from an iMIS AR Importer file or a CSV: validate, then post all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the file to import")
        parser.add_argument("--dry-run", action="store_true", help="validate and print each row's plan; post nothing")
        parser.add_argument(
            "--no-auto-apply",
            action="store_true",
            help="apply each row to the invoice it names (overrides the Cash Application Auto Apply setting)",
        )
        parser.add_argument("--batch", default="", help="batch number for a plain CSV (default yymmdd-n)")
        parser.add_argument("--cash-account", default="", help="cash account code for a plain CSV")
        parser.add_argument("--date", default="", help="date (YYYY-MM-DD) of CSV rows without one (default today)")
        parser.add_argument(
            "--entity",
            default="",
            metavar="CODE",
            help="financial entity of the import: the header's cash account code is looked up in it "
            "(needed when several entities have that code)",
        )
        parser.add_argument(
            "--allow-repeats",
            action="store_true",
            help="post rows whose payer, check number and amount were posted before (otherwise the file is refused)",
        )

    def handle(self, *args, file, dry_run, no_auto_apply, batch, cash_account, date, entity, allow_repeats, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        chosen = None
        if entity:
            chosen = FinancialEntity.objects.filter(code__iexact=entity.strip()).first()
            if chosen is None:
                codes = ", ".join(FinancialEntity.objects.order_by("code").values_list("code", flat=True))
                raise CommandError(f"--entity {entity!r}: no financial entity has that code ({codes or 'none'})")
        day = None
        if date:
            try:
                day = datetime.date.fromisoformat(date)
            except ValueError:
                raise CommandError(f"--date {date!r} is not a date (YYYY-MM-DD)") from None
        with path.open("rb") as fh:
            imp = ar_import_validate(
                fileobj=fh,
                file_name=path.name,
                auto_apply=False if no_auto_apply else None,
                batch_number=batch,
                cash_account_code=cash_account,
                date=day,
                entity=chosen,
            )
        self._summary(imp)
        if imp.status == ARImport.Status.INVALID:
            for text in problems(imp):
                self.stderr.write(text)
            more = imp.error_count - len(problems(imp))
            if more > 0:
                self.stderr.write(f"... and {more} more")
            raise CommandError(f"{path.name} is invalid: {imp.error_count} error(s); nothing was posted.", returncode=1)
        for text in problems(imp, "warning"):
            self.stdout.write(f"warning: {text}")
        if dry_run:
            self._plan(imp)
            self.stdout.write("Dry run: nothing was posted.")
            return
        if imp.repeat_count and not allow_repeats:
            raise CommandError(
                f"{path.name} was not posted: {imp.repeat_count} row(s) repeat payments posted before (same payer, "
                "check number and amount; see the warnings). Run again with --allow-repeats to post them anyway.",
                returncode=1,
            )
        try:
            imp = ar_import_post(ar_import=imp, allow_repeats=allow_repeats)
        except FinanceError as exc:
            raise CommandError(f"{path.name} was not posted: {exc}", returncode=1) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Posted {imp.row_count} payments ({imp.total_amount}) into batch {imp.batch.number}: "
                f"{imp.applied_amount} applied, {imp.credit_amount} left as open credit ({imp.credit_count})."
            )
        )

    def _summary(self, imp: ARImport):
        auto = "on" if imp.auto_apply else "off"
        self.stdout.write(
            f"{imp.file_name}: {imp.get_format_display() if imp.format else 'unknown format'}, "
            f"batch {imp.batch_number or '-'}, cash account {imp.cash_account_code or '-'}"
            f"{f' (entity {imp.entity.code})' if imp.entity_id else ''}, auto apply {auto}"
        )
        controls = (
            f"control count {imp.control_count if imp.control_count is not None else '-'}, "
            f"control amount {imp.control_amount if imp.control_amount is not None else '-'}"
        )
        total = "more than the ledger holds" if imp.total_amount is None else imp.total_amount
        self.stdout.write(f"Rows: {imp.row_count}, total {total} ({controls})")
        if imp.status == ARImport.Status.VALIDATED:
            self.stdout.write(
                f"Will apply {imp.applied_amount} to invoices and leave {imp.credit_amount} as open credit "
                f"({imp.credit_count} credit invoice(s)); {imp.warning_count} warning(s)."
            )

    def _plan(self, imp: ARImport):
        rows = ARImportRow.objects.filter(ar_import=imp).select_related("contact").order_by("line_number")
        for row in rows.iterator(chunk_size=2000):
            pays = row.plan_text or "nothing"
            credit = f"; credit {row.plan_credit}" if row.plan_credit else ""
            self.stdout.write(
                f"line {row.line_number}: {row.contact.name} ({row.contact.party_id}) {row.amount} "
                f"check {row.check_number or '-'} → pays {pays}{credit}"
            )
