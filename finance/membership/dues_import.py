"""Dues importer: a CSV of member dues terms (and optional payments) → term invoices and
payments in a reviewable batch.

Rules kept here:
- Columns (header row, any order): ``party_id``, ``member_type``, ``term_begin``,
  ``term_end`` (YYYY-MM-DD), ``amount`` (the fee line; billing products of the member type
  are added at their prices), optional ``payment_method`` (a payment method code) and
  ``payment_reference`` (check number…).
- Every row is checked before anything is written: the member exists and holds exactly
  one active subscription, of that member type; the member type exists and is active;
  the term's end is not before its begin and it overlaps no billed term of the member
  (nor another row of the file); the amount is a non-negative amount with at most two
  decimals; the payment method exists, is active and is not open credit. Each problem
  names the line and the field.
- Creating is all or nothing, in one transaction: a new Open batch, one term invoice per
  row (``term_bill``: open credit applied), and for a row with a payment, a payment of
  what is left open on that invoice, applied to its lines. The batch's controls are set
  to what was written; staff review and post it. The same file is created once.
"""

import csv
import datetime
import hashlib
import io
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from finance.errors import FinanceError
from finance.membership.models import DuesImport, DuesImportRow, MemberType, Subscription, Term
from finance.membership.services import term_bill
from finance.models import Contact, Payment, PaymentMethod
from finance.money import ZERO, quantize
from finance.services.batches import batch_create, batch_set_controls, batch_totals
from finance.services.payments import ApplicationSpec, payment_receive

REQUIRED = ["party_id", "member_type", "term_begin", "term_end", "amount"]
OPTIONAL = ["payment_method", "payment_reference"]
MAX_ROWS = 20_000


class DuesImportError(FinanceError):
    pass


def _date(value: str):
    return datetime.date.fromisoformat(value.strip())


def _amount(value: str) -> Decimal:
    """A plain amount with at most two decimals (InvalidOperation otherwise)."""
    amount = Decimal(value.strip().replace(",", ""))
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise InvalidOperation(value)
    return amount


def check_term_row(*, party_id, member_type_code, term_begin, term_end, amount, payment_method="", label="Row"):
    """Check one dues row (also used by the Subscription API). Returns (problems,
    resolved) where resolved holds the contact, subscription, member type and method."""
    problems: list[str] = []
    resolved: dict = {}
    contact = Contact.objects.filter(party_id=str(party_id).strip()).first()
    if contact is None:
        problems.append(f"{label}, party_id: no member with id {party_id!r}.")
    member_type = MemberType.objects.filter(code__iexact=str(member_type_code).strip()).first()
    if member_type is None:
        problems.append(f"{label}, member_type: unknown member type {member_type_code!r}.")
    elif not member_type.is_active:
        problems.append(f"{label}, member_type: member type {member_type.code} is inactive.")
    if term_begin and term_end and term_end < term_begin:
        problems.append(f"{label}, term_end: the term ends ({term_end}) before it begins ({term_begin}).")
    if amount is not None and amount < 0:
        problems.append(f"{label}, amount: cannot be negative ({amount}).")
    if payment_method:
        method = PaymentMethod.objects.filter(code__iexact=payment_method.strip()).first()
        if method is None:
            problems.append(f"{label}, payment_method: unknown payment method {payment_method!r}.")
        elif not method.is_active or method.type == PaymentMethod.Type.OPEN_CREDIT:
            problems.append(f"{label}, payment_method: {method.code} cannot take a dues payment.")
        resolved["method"] = method
    if contact is not None:
        subs = list(
            Subscription.objects.filter(contact=contact, status=Subscription.Status.ACTIVE).select_related(
                "member_type"
            )
        )
        if len(subs) != 1:
            kinds = ", ".join(s.member_type.code for s in subs)
            problems.append(
                f"{label}, party_id: member {contact.party_id} has {len(subs)} active subscriptions"
                f"{f' ({kinds})' if kinds else ''}; expected exactly one."
            )
        elif member_type is not None and subs[0].member_type_id != member_type.pk:
            problems.append(
                f"{label}, member_type: member {contact.party_id}'s active subscription is "
                f"{subs[0].member_type.code}, not {member_type.code}."
            )
        else:
            resolved["subscription"] = subs[0]
            if term_begin and term_end and term_end >= term_begin:
                overlap = Term.objects.filter(
                    subscription=subs[0],
                    invoice__reversed_at__isnull=True,
                    term_begin__lte=term_end,
                    term_end__gte=term_begin,
                ).first()
                if overlap:
                    problems.append(
                        f"{label}, term_begin: {term_begin}–{term_end} overlaps the term "
                        f"{overlap.term_begin}–{overlap.term_end} billed on invoice {overlap.invoice.number}."
                    )
    resolved.update(contact=contact, member_type=member_type)
    return problems, resolved


@transaction.atomic
def dues_import_validate(*, fileobj, file_name: str, invoice_date: datetime.date, user=None) -> DuesImport:
    """Read and check every row; store them with their problems (the preview)."""
    raw = fileobj.read()
    sha = hashlib.sha256(raw).hexdigest()
    imp = DuesImport.objects.create(
        file_name=file_name[:200],
        sha256=sha,
        status=DuesImport.Status.INVALID,
        invoice_date=invoice_date,
        created_by=user,
    )
    file_problems = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = ""
        file_problems.append(f"File: not UTF-8 text ({exc.reason} at byte {exc.start}).")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if text and missing:
        file_problems.append(f"File: the header lacks the column(s) {', '.join(missing)}.")
    if DuesImport.objects.filter(sha256=sha, status=DuesImport.Status.CREATED).exists():
        file_problems.append("File: this file was imported before.")
    rows = []
    seen: dict[tuple, int] = {}
    if text and not missing:
        reader.fieldnames = header
        for n, rec in enumerate(reader, start=2):
            if len(rows) >= MAX_ROWS:
                file_problems.append(f"File: more than {MAX_ROWS} rows; split it.")
                break
            rec = {k: (v or "").strip() for k, v in rec.items() if k}
            label = f"Line {n}"
            errors = []
            begin = end = amount = None
            for field in ("term_begin", "term_end"):
                try:
                    value = _date(rec.get(field, ""))
                except ValueError:
                    errors.append(f"{label}, {field}: {rec.get(field, '')!r} is not a date (YYYY-MM-DD).")
                    continue
                begin, end = (value, end) if field == "term_begin" else (begin, value)
            try:
                amount = quantize(_amount(rec.get("amount", "")))
            except (InvalidOperation, ValueError):
                errors.append(f"{label}, amount: {rec.get('amount', '')!r} is not an amount.")
            problems, resolved = check_term_row(
                party_id=rec.get("party_id", ""),
                member_type_code=rec.get("member_type", ""),
                term_begin=begin,
                term_end=end,
                amount=amount,
                payment_method=rec.get("payment_method", ""),
                label=label,
            )
            errors += problems
            key = (rec.get("party_id", ""), begin, end)
            if begin and end and resolved.get("contact"):
                for (pid, b, e), line in seen.items():
                    if pid == key[0] and b <= end and e >= begin:
                        errors.append(f"{label}, term_begin: overlaps the term of line {line} for the same member.")
                        break
                seen[key] = n
            rows.append(
                DuesImportRow(
                    dues_import=imp,
                    line_number=n,
                    party_id=rec.get("party_id", "")[:40],
                    member_type_code=rec.get("member_type", "")[:40],
                    term_begin=begin,
                    term_end=end,
                    amount=amount,
                    payment_method=rec.get("payment_method", "")[:20],
                    payment_reference=rec.get("payment_reference", "")[:100],
                    errors="\n".join(errors),
                )
            )
    if not rows and not file_problems:
        file_problems.append("File: no rows.")
    DuesImportRow.objects.bulk_create(rows)
    if file_problems:
        DuesImportRow.objects.create(
            dues_import=imp, line_number=0, party_id="", member_type_code="", errors="\n".join(file_problems)
        )
    imp.row_count = len(rows)
    imp.error_count = sum(1 for r in rows if r.errors) + len(file_problems)
    imp.total = sum((r.amount or ZERO for r in rows), ZERO)
    imp.status = DuesImport.Status.INVALID if imp.error_count else DuesImport.Status.VALIDATED
    imp.save()
    return imp


def dues_import_create(*, dues_import: DuesImport, user=None) -> DuesImport:
    """Create every row's invoice (and payment) in a new Open batch, all or nothing."""
    try:
        with transaction.atomic():
            imp = DuesImport.objects.select_for_update().get(pk=dues_import.pk)
            if imp.status == DuesImport.Status.CREATED:
                return imp
            if imp.status != DuesImport.Status.VALIDATED:
                raise DuesImportError(f"Dues import {imp.pk} has errors; fix the file and upload it again.")
            batch = batch_create(
                date=imp.invoice_date, description=f"Dues import {imp.pk}: {imp.file_name}"[:200], user=user
            )
            for row in imp.rows.filter(line_number__gt=0).order_by("line_number"):
                problems, resolved = check_term_row(
                    party_id=row.party_id,
                    member_type_code=row.member_type_code,
                    term_begin=row.term_begin,
                    term_end=row.term_end,
                    amount=row.amount,
                    payment_method=row.payment_method,
                    label=f"Line {row.line_number}",
                )
                if problems:
                    raise DuesImportError(problems[0])
                try:
                    billed = term_bill(
                        subscription=resolved["subscription"],
                        batch=batch,
                        invoice_date=imp.invoice_date,
                        term_begin=row.term_begin,
                        term_end=row.term_end,
                        fee_amount=row.amount,
                        source=Term.Source.IMPORT,
                        user=user,
                    )
                except FinanceError as exc:
                    raise DuesImportError(f"Line {row.line_number}: {exc}") from exc
                row.invoice = billed.invoice
                if row.payment_method and billed.invoice.balance > 0:
                    row.payment = pay_invoice(
                        invoice=billed.invoice,
                        method=resolved["method"],
                        reference=row.payment_reference,
                        batch=batch,
                        date=imp.invoice_date,
                        source=Payment.Source.IMPORT,
                        user=user,
                    )
                row.save(update_fields=["invoice", "payment"])
            totals = batch_totals(batch)
            batch_set_controls(batch=batch, control_count=totals.count, control_amount=totals.amount, user=user)
            imp.batch, imp.status = batch, DuesImport.Status.CREATED
            imp.save(update_fields=["batch", "status"])
            return imp
    except IntegrityError as exc:
        if "dues_file_created_once" in str(exc):
            raise DuesImportError("This file was imported before.") from None
        raise


def pay_invoice(*, invoice, method, reference: str, batch, date, source, user=None) -> Payment:
    """A payment of what is open on ``invoice``, applied to its open lines."""
    lines = list(invoice.lines.filter(balance__gt=0).order_by("line_number"))
    amount = sum((ln.balance for ln in lines), ZERO)
    return payment_receive(
        payer=invoice.bill_to,
        method=method,
        amount=amount,
        date=date,
        batch=batch,
        applications=[ApplicationSpec(ln, ln.balance) for ln in lines],
        reference=reference,
        source=source,
        user=user,
    )
