"""The reports' part of ``verify_ledger``: the open balances kept by triggers for the
reports, per contact and currency and per currency and invoice date, = the sums over
the open invoices. Named in ``ReportingConfig.ledger_checks``; the ledger's checks run
first (``finance.ledger_check.installed_checks``)."""

from finance.ledger_check import CheckResult, Mismatch, _money
from finance.reporting.selectors import (
    batch_invoice_mismatches,
    batch_receipts_mismatches,
    contact_balance_mismatches,
    open_balance_by_date_mismatches,
)


def check_contact_balances(cursor, limit: int) -> CheckResult:
    """The open balances the reports read, kept by triggers on the invoices, against
    the invoices themselves: per contact and currency
    (``ContactBalance``), then per currency and invoice date (``OpenBalanceByDate``).
    ``limit`` caps the listing of both together."""
    result = CheckResult(
        "contact_balances", "Kept open balances (per contact, per currency and date) = the open invoices"
    )
    contacts, rows = contact_balance_mismatches(limit)
    for contact_id, currency, *figures in rows:
        result.mismatches.append(Mismatch(f"Contact id {contact_id} in {currency}", _kept_detail(*figures)))
    dates, rows = open_balance_by_date_mismatches(max(limit - len(result.mismatches), 0))
    for currency, day, *figures in rows:
        result.mismatches.append(Mismatch(f"{currency} invoices dated {day.isoformat()}", _kept_detail(*figures)))
    result.count = contacts + dates
    return result


def _kept_detail(kr, kn, kc, kcn, rr, rn, rc, rcn) -> str:
    kept = "none" if kr is None else f"receivable {_money(kr)} ({kn}), credit {_money(kc)} ({kcn})"
    real = "none" if rr is None else f"receivable {_money(rr)} ({rn}), credit {_money(rc)} ({rcn})"
    return f"kept {kept}; invoices {real}"


def check_batch_receipts(cursor, limit: int) -> CheckResult:
    """What each batch received and took back, kept by the payment table's triggers
    (``BatchReceipts``, read by the cash receipts report and the batch list), against
    the payments."""
    result = CheckResult("batch_receipts", "Kept batch receipts = the payments received and reversed in each batch")
    count, rows = batch_receipts_mismatches(limit)
    for batch_id, day, method_id, currency, *figures in rows:
        kept, real = figures[:4], figures[4:]
        result.mismatches.append(
            Mismatch(
                f"Batch id {batch_id}, {day.isoformat()}, method id {method_id}, {currency}",
                f"kept {_receipts(*kept)}; payments {_receipts(*real)}",
            )
        )
    result.count = count
    return result


def check_batch_invoices(cursor, limit: int) -> CheckResult:
    """What each batch invoiced, kept by the invoice table's triggers (``BatchInvoices``,
    read by the batch list, the batch summary and the dashboard), against the invoices."""
    result = CheckResult("batch_invoices", "Kept batch invoice figures = the invoices of each batch")
    count, rows = batch_invoice_mismatches(limit)
    for batch_id, kn, kc, kcharges, rn, rc, rcharges in rows:
        kept = "none" if kn is None else f"{kn} invoices, {kc} credit invoices, charges {_money(kcharges)}"
        real = "none" if rn is None else f"{rn} invoices, {rc} credit invoices, charges {_money(rcharges)}"
        result.mismatches.append(Mismatch(f"Batch id {batch_id}", f"kept {kept}; invoices {real}"))
    result.count = count
    return result


def _receipts(received, n, reversed_, reversals) -> str:
    if received is None:
        return "none"
    return f"received {_money(received)} ({n}), reversed {_money(reversed_)} ({reversals})"
