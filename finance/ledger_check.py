"""Read-only verification of the ledger: recompute every stored balance and check every
invariant of the postings, with set-based SQL.

Each check is one statement: a GROUP BY that recomputes a figure from its source rows
(applications, lines, journal lines), joined to the stored figure, filtered to the rows
that differ. Only the mismatches travel to Python, capped per check; a window count
gives the full number. Nothing loops over invoices in Python, so the check runs on a
million invoices in the time the database needs to scan the tables a few times.

What is checked (the invariants follow from how ``finance.services`` post):

- Every invoice line's balance = its amount + its discount (the part of the invoice's
  discount lines it carries; minus its amount on a discount line) + its adjustments
  (charges taken off, negative) − the sum of its payment applications (all kinds, with
  their signs).
- Every invoice's total = the sum of its line amounts, and its balance = the sum of
  its recomputed line balances (so its lines' discounts must add up to zero).
- Every application points at the invoice of its line, in the payment's entity.
- Every payment's ``amount_applied`` = the sum of its applications, leaving out an
  open-credit payment's rows on the credit it draws (its draws and their reversals);
  a posted payment's add up to its amount less what was refunded (the unapplied rest
  sits on a credit invoice); a reversed payment's net to zero.
- Every payment's postings leave its cash account debited by its amount (posted) or by
  nothing (reversed); a payment an AR import posted counts its amount in the import's
  summary entries.
- Every AR import's summary entries debit its cash account by the sum of the
  applications written with its payments and credit each credit or cash-basis line's
  account by what was applied to such lines (per GL-export flag); AR takes the rest.
- Every journal entry has lines and balances per currency (debits = credits); every
  journal line has exactly one positive side.
- Every accrual invoice with charges (a line above zero) has exactly one invoice entry
  whose AR debit is the invoice total (zero for a fully discounted invoice); invoices
  without charges or on the cash basis have none.
- Per financial entity, the AR accounts (role AR) balance (DR − CR, posted entries) =
  the open balance of its accrual, non-credit invoices recomputed from their lines:
  AR is debited by accrual invoice totals and credited by applications to accrual
  lines, and a payment reversal adds the opposite rows and the opposite entry.
- Per financial entity, the unapplied cash accounts (role unapplied cash) balance
  (DR − CR) = the sum of the recomputed balances of its credit invoices (negative:
  each is an open credit), i.e. the liability equals minus that sum.
- When finance settings require balanced batches, every posted batch's actual count
  and amount equal its controls (count = non-credit invoices + payments; amount = the
  payments' total, as ``finance.services.batches`` counts them).
- The apps built on the ledger add checks of their own (an app config's
  ``ledger_checks``, run after these): the reports' open balances kept by triggers, per
  contact and currency and per currency and invoice date, = the sums over the open
  invoices; each batch's kept receipts = its payments received and reversed, and its
  kept invoice figures = its invoices (``finance.reporting.checks``).
- Every reference of a finance table names a row that exists (no orphan rows): the
  foreign keys refuse them, but a restore or a bulk load that ran with the keys'
  triggers off (``session_replication_role = replica``) does not go through them. One
  anti-join per foreign key field of the finance models.

When called outside a transaction, every check reads one REPEATABLE READ, READ ONLY
snapshot, so concurrent postings cannot produce false mismatches. Amounts are numeric
and compared exactly: a difference of any size is a mismatch.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.apps import apps
from django.db import connection, models, transaction
from django.utils.module_loading import import_string

from finance.models import (
    Batch,
    FinanceSettings,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    PaymentMethod,
)
from finance.models_ar_import import ARImportRow
from finance.money import CENT, ZERO

DEFAULT_LIMIT = 20

T = {
    "inv": Invoice._meta.db_table,
    "line": InvoiceLine._meta.db_table,
    "pay": Payment._meta.db_table,
    "app": PaymentApplication._meta.db_table,
    "je": JournalEntry._meta.db_table,
    "jl": JournalLine._meta.db_table,
    "gl": GLAccount._meta.db_table,
    "ent": FinancialEntity._meta.db_table,
    "batch": Batch._meta.db_table,
    "method": PaymentMethod._meta.db_table,
    "adj": InvoiceAdjustment._meta.db_table,
    "row": ARImportRow._meta.db_table,
}
# Adjustments (charges taken off) summed per line.
ADJ_BY_LINE = f"(SELECT line_id, SUM(amount) AS adjusted FROM {T['adj']} GROUP BY line_id)"


def _differs(a: str, b: str) -> str:
    """SQL: two money expressions differ at all (numeric: exact; no tolerance)."""
    return f"({a}) <> ({b})"


def _money(value) -> Decimal:
    """A database number (numeric: a Decimal) as cents."""
    if value is None:
        return ZERO
    return Decimal(value).quantize(CENT)


@dataclass(frozen=True)
class Mismatch:
    subject: str  # which object, e.g. "Invoice 1042 line 2 (line id 77)"
    detail: str  # stored vs recomputed


@dataclass
class CheckResult:
    name: str
    title: str
    count: int = 0  # mismatches found (all of them, not only those listed)
    mismatches: list[Mismatch] = field(default_factory=list)  # the first ``limit``
    skipped: str = ""  # why the check did not run, when it did not

    @property
    def ok(self) -> bool:
        return self.count == 0


@dataclass
class LedgerReport:
    invoices: int
    lines: int
    payments: int
    journal_entries: int
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def mismatch_count(self) -> int:
        return sum(c.count for c in self.checks)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        checked = (
            f"Checked {self.invoices} invoices, {self.lines} lines, {self.payments} payments, "
            f"{self.journal_entries} journal entries"
        )
        if self.ok:
            return f"{checked}: ledger OK"
        n, c = self.mismatch_count, len(self.failed_checks)
        return f"{checked}: {n} mismatch{'es' if n != 1 else ''} in {c} check{'s' if c != 1 else ''}"

    def format(self) -> str:
        """The full text report: every check, and each listed mismatch under its check."""
        out = []
        for check in self.checks:
            if check.skipped:
                out.append(f"[skip] {check.title}: {check.skipped}")
            elif check.ok:
                out.append(f"[ ok ] {check.title}")
            else:
                out.append(f"[FAIL] {check.title}: {check.count} mismatch{'es' if check.count != 1 else ''}")
                for m in check.mismatches:
                    out.append(f"         {m.subject}: {m.detail}")
                more = check.count - len(check.mismatches)
                if more > 0:
                    out.append(f"         ... and {more} more (raise --limit to list them)")
        out.append(self.summary())
        return "\n".join(out)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "invoices": self.invoices,
            "lines": self.lines,
            "payments": self.payments,
            "journal_entries": self.journal_entries,
            "mismatches": self.mismatch_count,
            "checks": [asdict(c) for c in self.checks],
        }


def _fetch(cursor, sql: str, params: list, limit: int, order_by: str) -> tuple[int, list[tuple]]:
    """Run the mismatch query ``sql`` and return (how many rows it finds, the first
    ``limit`` of them in ``order_by`` order, an expression over its column aliases).

    The query is planned for full retrieval: ``OFFSET 0`` keeps it from
    being merged into the outer ``ORDER BY … LIMIT``, which would otherwise make the
    planner walk every row through nested index lookups hoping to stop early.
    """
    cursor.execute(
        f"SELECT m.*, COUNT(*) OVER () FROM ({sql} OFFSET 0) m ORDER BY {order_by} LIMIT %s", [*params, limit]
    )
    rows = cursor.fetchall()
    if not rows:
        return 0, []
    return int(rows[0][-1]), [row[:-1] for row in rows]


# --- the checks ---------------------------------------------------------------------------


def check_line_balances(cursor, limit: int) -> CheckResult:
    result = CheckResult("line_balances", "Invoice line balances = amount - applications")
    sql = f"""
        SELECT l.id AS k, l.invoice_id, l.line_number, l.amount, l.discount, COALESCE(d.adjusted, 0), l.balance,
               COALESCE(a.applied, 0) AS applied
          FROM {T["line"]} l
          LEFT JOIN (SELECT line_id, SUM(amount) AS applied FROM {T["app"]} GROUP BY line_id) a
                 ON a.line_id = l.id
          LEFT JOIN {ADJ_BY_LINE} d ON d.line_id = l.id
         WHERE {_differs("l.balance", "l.amount + l.discount + COALESCE(d.adjusted, 0) - COALESCE(a.applied, 0)")}
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k")
    numbers = dict(Invoice.objects.filter(pk__in={row[1] for row in rows}).values_list("pk", "number"))
    for line_id, invoice_id, line_number, amount, discount, adjusted, balance, applied in rows:
        amount, discount, adjusted = _money(amount), _money(discount), _money(adjusted)
        balance, applied = _money(balance), _money(applied)
        how = (
            f"amount {amount}"
            + (f" + discount {discount}" if discount else "")
            + (f" + adjustments {adjusted}" if adjusted else "")
            + f" - applied {applied}"
        )
        result.mismatches.append(
            Mismatch(
                f"Invoice {numbers[invoice_id]} line {line_number} (line id {line_id})",
                f"balance stored {balance}, recomputed {amount + discount + adjusted - applied} ({how})",
            )
        )
    return result


def check_invoice_totals(cursor, limit: int) -> CheckResult:
    result = CheckResult("invoice_totals", "Invoice totals = sum of line amounts; balances = sum of line balances")
    sql = f"""
        SELECT i.id AS k, i.number, i.total, i.balance,
               COALESCE(s.amount, 0) AS re_total,
               COALESCE(s.charged, 0) + COALESCE(d.adjusted, 0) - COALESCE(a.applied, 0) AS re_balance
          FROM {T["inv"]} i
          LEFT JOIN (SELECT invoice_id, SUM(amount) AS amount, SUM(amount + discount) AS charged
                       FROM {T["line"]} GROUP BY invoice_id) s
                 ON s.invoice_id = i.id
          LEFT JOIN (SELECT invoice_id, SUM(amount) AS adjusted FROM {T["adj"]} GROUP BY invoice_id) d
                 ON d.invoice_id = i.id
          LEFT JOIN (SELECT l.invoice_id, SUM(a.amount) AS applied
                       FROM {T["app"]} a JOIN {T["line"]} l ON l.id = a.line_id
                      GROUP BY l.invoice_id) a
                 ON a.invoice_id = i.id
         WHERE {_differs("i.total", "COALESCE(s.amount, 0)")}
            OR {_differs("i.balance", "COALESCE(s.charged, 0) + COALESCE(d.adjusted, 0) - COALESCE(a.applied, 0)")}
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k")
    for invoice_id, number, total, balance, re_total, re_balance in rows:
        total, balance, re_total, re_balance = map(_money, (total, balance, re_total, re_balance))
        parts = []
        if total != re_total:
            parts.append(f"total stored {total}, recomputed {re_total}")
        if balance != re_balance:
            parts.append(f"balance stored {balance}, recomputed {re_balance}")
        result.mismatches.append(Mismatch(f"Invoice {number} (id {invoice_id})", "; ".join(parts)))
    return result


def check_application_targets(cursor, limit: int) -> CheckResult:
    result = CheckResult("application_targets", "Applications point at their line's invoice, in the payment's entity")
    sql = f"""
        SELECT a.id AS k, a.payment_id, a.invoice_id AS app_invoice, l.invoice_id AS line_invoice, i.number,
               i.entity_id AS invoice_entity, p.entity_id AS payment_entity
          FROM {T["app"]} a
          JOIN {T["line"]} l ON l.id = a.line_id
          JOIN {T["inv"]} i ON i.id = l.invoice_id
          JOIN {T["pay"]} p ON p.id = a.payment_id
         WHERE a.invoice_id <> l.invoice_id OR i.entity_id <> p.entity_id
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k")
    for app_id, payment_id, app_invoice, line_invoice, number, inv_entity, pay_entity in rows:
        parts = []
        if app_invoice != line_invoice:
            parts.append(f"names invoice id {app_invoice}, its line belongs to invoice {number} (id {line_invoice})")
        if inv_entity != pay_entity:
            parts.append(f"invoice {number} is in entity id {inv_entity}, the payment in entity id {pay_entity}")
        result.mismatches.append(Mismatch(f"Application {app_id} of payment {payment_id}", "; ".join(parts)))
    return result


def check_payments(cursor, limit: int) -> CheckResult:
    result = CheckResult(
        "payments",
        "Payments: amount applied = applications; posted ones applied in full less refunds, reversed ones net to zero",
    )
    sql = f"""
        SELECT p.id AS k, p.status, p.amount, p.amount_applied, p.refunded_amount, COALESCE(a.net, 0) AS net
          FROM {T["pay"]} p
          LEFT JOIN (SELECT a.payment_id, SUM(a.amount) AS net
                       FROM {T["app"]} a
                       JOIN {T["pay"]} pp ON pp.id = a.payment_id
                       JOIN {T["method"]} m ON m.id = pp.method_id
                       JOIN {T["inv"]} i ON i.id = a.invoice_id
                      WHERE NOT (m.type = %s AND i.type = %s)
                      GROUP BY a.payment_id) a
                 ON a.payment_id = p.id
         WHERE {_differs("p.amount_applied", "COALESCE(a.net, 0)")}
            OR (p.status = %s AND {_differs("p.amount - p.refunded_amount", "COALESCE(a.net, 0)")})
            OR (p.status = %s AND {_differs("COALESCE(a.net, 0)", "0")})
    """
    params = ["open_credit", Invoice.Type.CREDIT.value, Payment.Status.POSTED.value, Payment.Status.REVERSED.value]
    result.count, rows = _fetch(cursor, sql, params, limit, "k")
    for payment_id, status, amount, applied, refunded, net in rows:
        amount, applied, refunded, net = _money(amount), _money(applied), _money(refunded), _money(net)
        parts = []
        if applied != net:
            parts.append(f"amount_applied stored {applied}, recomputed {net}")
        if status == Payment.Status.POSTED and net != amount - refunded:
            of = f"{amount} (refunded {refunded})" if refunded else f"{amount}"
            parts.append(f"posted payment of {of} has applications adding up to {net}")
        if status == Payment.Status.REVERSED and net != ZERO:
            parts.append(f"reversed payment's applications net to {net}, expected 0.00")
        result.mismatches.append(Mismatch(f"Payment {payment_id} ({status}, {amount})", "; ".join(parts)))
    return result


# The posted rows of the AR imports whose journal is a summary (entries naming the
# import), with their payments.
SUMMARISED = f"""
    SELECT r.ar_import_id, r.payment_id
      FROM {T["row"]} r
     WHERE r.posted AND r.payment_id IS NOT NULL
       AND r.ar_import_id IN (SELECT e.ar_import_id FROM {T["je"]} e WHERE e.ar_import_id IS NOT NULL)
"""


def check_payment_postings(cursor, limit: int) -> CheckResult:
    result = CheckResult(
        "payment_postings", "Payment entries debit the payment's cash account by its amount (0 once reversed)"
    )
    # A payment an AR import posted in its summary has its amount there (checked by
    # check_import_postings); its own entries (its reversal…) add the rest.
    sql = f"""
        SELECT p.id AS k, p.status, p.amount,
               COALESCE(j.net, 0) + CASE WHEN s.payment_id IS NULL THEN 0 ELSE p.amount END AS net
          FROM {T["pay"]} p
          LEFT JOIN (SELECT e.payment_id, jl.account_id, SUM(jl.debit - jl.credit) AS net
                       FROM {T["je"]} e JOIN {T["jl"]} jl ON jl.entry_id = e.id
                      WHERE e.payment_id IS NOT NULL AND e.kind IN (%s, %s, %s)
                      GROUP BY e.payment_id, jl.account_id) j
                 ON j.payment_id = p.id AND j.account_id = p.cash_account_id
          LEFT JOIN ({SUMMARISED}) s ON s.payment_id = p.id
         WHERE {
        _differs(
            "COALESCE(j.net, 0) + CASE WHEN s.payment_id IS NULL THEN 0 ELSE p.amount END",
            "CASE WHEN p.status = %s THEN p.amount ELSE 0 END",
        )
    }
    """
    params = [
        JournalEntry.Kind.PAYMENT.value,
        JournalEntry.Kind.CREDIT_APPLICATION.value,
        JournalEntry.Kind.PAYMENT_REVERSAL.value,
        Payment.Status.POSTED.value,
    ]
    result.count, rows = _fetch(cursor, sql, params, limit, "k")
    for payment_id, status, amount, net in rows:
        amount, net = _money(amount), _money(net)
        expected = amount if status == Payment.Status.POSTED else ZERO
        result.mismatches.append(
            Mismatch(
                f"Payment {payment_id} ({status}, {amount})",
                f"cash account debited {net} net by its entries, expected {expected}",
            )
        )
    return result


def check_import_postings(cursor, limit: int) -> CheckResult:
    """An AR import's summary entries post what its payments' applications say: per
    import and GL-export flag, the cash account debited by the sum of the applications
    written with the payments (same transaction, same timestamp), and each credit or
    cash-basis line's own account credited by what was applied to such lines. The rest
    of each (balanced) entry credits AR, whose total the AR balance check holds."""
    result = CheckResult("import_postings", "AR import summary entries post what the import's applications say")
    sql = f"""
        WITH apps AS (
            SELECT s.ar_import_id, p.cash_account_id, a.amount,
                   (i.accounting_method = %s AND i.type = %s) AS excluded,
                   CASE WHEN i.type = %s OR i.accounting_method = %s THEN l.account_id END AS account_id
              FROM ({SUMMARISED}) s
              JOIN {T["pay"]} p ON p.id = s.payment_id
              JOIN {T["app"]} a ON a.payment_id = p.id AND a.kind = %s AND a.created_at = p.created_at
              JOIN {T["line"]} l ON l.id = a.line_id
              JOIN {T["inv"]} i ON i.id = l.invoice_id
        ), recomputed AS (
            SELECT ar_import_id, excluded, account_id, SUM(amount) AS amount
              FROM apps WHERE account_id IS NOT NULL GROUP BY ar_import_id, excluded, account_id
            UNION ALL
            SELECT ar_import_id, excluded, cash_account_id, -SUM(amount)
              FROM apps GROUP BY ar_import_id, excluded, cash_account_id
        ), stored AS (
            SELECT e.ar_import_id, e.exclude_from_gl_export AS excluded, jl.account_id,
                   SUM(jl.credit - jl.debit) AS amount
              FROM {T["je"]} e JOIN {T["jl"]} jl ON jl.entry_id = e.id
             WHERE e.ar_import_id IS NOT NULL
             GROUP BY e.ar_import_id, e.exclude_from_gl_export, jl.account_id
        )
        SELECT r.ar_import_id AS k, r.excluded, g.code, r.amount, COALESCE(s.amount, 0)
          FROM recomputed r
          JOIN {T["gl"]} g ON g.id = r.account_id
          LEFT JOIN stored s
                 ON s.ar_import_id = r.ar_import_id AND s.excluded = r.excluded AND s.account_id = r.account_id
         WHERE {_differs("r.amount", "COALESCE(s.amount, 0)")}
    """
    params = [
        Invoice.AccountingMethod.CASH.value,
        Invoice.Type.MEMBERSHIP.value,
        Invoice.Type.CREDIT.value,
        Invoice.AccountingMethod.CASH.value,
        PaymentApplication.Kind.APPLY.value,
    ]
    result.count, rows = _fetch(cursor, sql, params, limit, "k, code")
    for import_id, excluded, code, expected, stored in rows:
        side = "debited" if expected < 0 else "credited"
        result.mismatches.append(
            Mismatch(
                f"AR import {import_id}{' (cash-basis membership entry)' if excluded else ''}, account {code}",
                f"{side} {abs(_money(stored))} net by the summary entries, "
                f"{abs(_money(expected))} by the import's applications",
            )
        )
    return result


def check_journal_balanced(cursor, limit: int) -> CheckResult:
    result = CheckResult("journal_balanced", "Journal entries balance per currency (debits = credits)")
    sql = f"""
        SELECT s.entry_id AS k, e.kind, e.date, s.currency, s.debits, s.credits
          FROM (SELECT entry_id, currency, SUM(debit) AS debits, SUM(credit) AS credits
                  FROM {T["jl"]}
                 GROUP BY entry_id, currency
                HAVING {_differs("SUM(debit)", "SUM(credit)")}) s
          JOIN {T["je"]} e ON e.id = s.entry_id
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k, currency")
    for entry_id, kind, date, currency, debits, credits in rows:
        debits, credits = _money(debits), _money(credits)
        result.mismatches.append(
            Mismatch(
                f"Journal entry {entry_id} ({kind}, {date})",
                f"{currency} debits {debits}, credits {credits}, difference {debits - credits}",
            )
        )
    return result


def check_journal_has_lines(cursor, limit: int) -> CheckResult:
    result = CheckResult("journal_has_lines", "Journal entries have lines")
    sql = f"""
        SELECT e.id AS k, e.kind, e.date
          FROM {T["je"]} e
         WHERE NOT EXISTS (SELECT 1 FROM {T["jl"]} jl WHERE jl.entry_id = e.id)
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k")
    for entry_id, kind, date in rows:
        result.mismatches.append(Mismatch(f"Journal entry {entry_id} ({kind}, {date})", "has no lines"))
    return result


def check_journal_line_sides(cursor, limit: int) -> CheckResult:
    result = CheckResult("journal_line_sides", "Journal lines have exactly one positive side")
    sql = f"""
        SELECT id AS k, entry_id, debit, credit
          FROM {T["jl"]}
         WHERE NOT ((debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0))
    """
    result.count, rows = _fetch(cursor, sql, [], limit, "k")
    for line_id, entry_id, debit, credit in rows:
        result.mismatches.append(
            Mismatch(f"Journal line {line_id} of entry {entry_id}", f"debit {_money(debit)}, credit {_money(credit)}")
        )
    return result


def check_invoice_postings(cursor, limit: int) -> CheckResult:
    result = CheckResult(
        "invoice_postings", "Accrual invoices have one invoice entry debiting AR by their total; others none"
    )
    # Has charges: a total above zero, or (a fully discounted invoice) a zero total with
    # a line above zero. Credit invoices have neither.
    charged = f"""(i.total > 0 OR (i.total = 0 AND i.type <> %s
                   AND EXISTS (SELECT 1 FROM {T["line"]} l WHERE l.invoice_id = i.id AND l.amount > 0)))"""
    sql = f"""
        SELECT i.id AS k, i.number, i.accounting_method, i.type, i.total, COALESCE(j.n, 0) AS n,
               COALESCE(j.ar, 0) AS ar, {charged} AS charged
          FROM {T["inv"]} i
          LEFT JOIN (SELECT e.invoice_id, COUNT(DISTINCT e.id) AS n,
                            SUM(CASE WHEN g.role = %s THEN jl.debit - jl.credit ELSE 0 END) AS ar
                       FROM {T["je"]} e
                       JOIN {T["jl"]} jl ON jl.entry_id = e.id
                       JOIN {T["gl"]} g ON g.id = jl.account_id
                      WHERE e.invoice_id IS NOT NULL AND e.kind = %s
                      GROUP BY e.invoice_id) j
                 ON j.invoice_id = i.id
         WHERE (i.accounting_method = %s AND {charged}
                AND (j.n IS NULL OR j.n <> 1 OR {_differs("j.ar", "i.total")}))
            OR (NOT (i.accounting_method = %s AND {charged}) AND j.n IS NOT NULL)
    """
    accrual = Invoice.AccountingMethod.ACCRUAL.value
    credit = Invoice.Type.CREDIT.value
    params = [credit, GLAccount.Role.AR.value, JournalEntry.Kind.INVOICE.value, accrual, credit, accrual, credit]
    result.count, rows = _fetch(cursor, sql, params, limit, "k")
    for invoice_id, number, method, type_, total, n, ar, has_charges in rows:
        total, ar = _money(total), _money(ar)
        subject = f"Invoice {number} (id {invoice_id}, {method}, {type_}, total {total})"
        if method == accrual and has_charges:
            if n == 0:
                detail = "has no invoice journal entry"
            elif n != 1:
                detail = f"has {n} invoice journal entries, expected 1"
            else:
                detail = f"its entry debits AR by {ar}, expected {total}"
        else:
            detail = f"has {n} invoice journal entr{'ies' if n != 1 else 'y'}, expected none"
        result.mismatches.append(Mismatch(subject, detail))
    return result


def _entity_balance_check(
    cursor, limit: int, *, role: str, invoice_filter: str, params: list
) -> tuple[int, list[tuple]]:
    """Per entity: (id, code, journal DR − CR on accounts of ``role``, recomputed balance
    of the invoices matching ``invoice_filter``), only where they differ."""
    sql = f"""
        SELECT e.id, e.code AS k, COALESCE(j.net, 0) AS net, COALESCE(c.amount, 0) - COALESCE(p.applied, 0) AS open
          FROM {T["ent"]} e
          LEFT JOIN (SELECT g.entity_id, SUM(jl.debit - jl.credit) AS net
                       FROM {T["jl"]} jl
                       JOIN {T["je"]} je ON je.id = jl.entry_id
                       JOIN {T["gl"]} g ON g.id = jl.account_id
                      WHERE g.role = %s AND je.is_posted = %s
                      GROUP BY g.entity_id) j
                 ON j.entity_id = e.id
          LEFT JOIN (SELECT i.entity_id, SUM(l.amount + l.discount + COALESCE(d.adjusted, 0)) AS amount
                       FROM {T["line"]} l JOIN {T["inv"]} i ON i.id = l.invoice_id
                       LEFT JOIN {ADJ_BY_LINE} d ON d.line_id = l.id
                      WHERE {invoice_filter}
                      GROUP BY i.entity_id) c
                 ON c.entity_id = e.id
          LEFT JOIN (SELECT i.entity_id, SUM(a.amount) AS applied
                       FROM {T["app"]} a
                       JOIN {T["line"]} l ON l.id = a.line_id
                       JOIN {T["inv"]} i ON i.id = l.invoice_id
                      WHERE {invoice_filter}
                      GROUP BY i.entity_id) p
                 ON p.entity_id = e.id
         WHERE {_differs("COALESCE(j.net, 0)", "COALESCE(c.amount, 0) - COALESCE(p.applied, 0)")}
    """
    return _fetch(cursor, sql, [role, True, *params, *params], limit, "k")


def check_ar_balance(cursor, limit: int) -> CheckResult:
    result = CheckResult(
        "ar_balance", "AR accounts per entity = open balance of accrual invoices (charges - applications)"
    )
    result.count, rows = _entity_balance_check(
        cursor,
        limit,
        role=GLAccount.Role.AR.value,
        invoice_filter="i.accounting_method = %s AND i.type <> %s",
        params=[Invoice.AccountingMethod.ACCRUAL.value, Invoice.Type.CREDIT.value],
    )
    for _entity_id, code, net, open_balance in rows:
        net, open_balance = _money(net), _money(open_balance)
        result.mismatches.append(
            Mismatch(
                f"Entity {code}",
                f"AR accounts balance {net} (DR - CR), accrual invoices' open balance {open_balance}, "
                f"difference {net - open_balance}",
            )
        )
    return result


def check_unapplied_cash(cursor, limit: int) -> CheckResult:
    result = CheckResult(
        "unapplied_cash", "Unapplied cash per entity = minus the balances of credit invoices (open credits)"
    )
    result.count, rows = _entity_balance_check(
        cursor,
        limit,
        role=GLAccount.Role.UNAPPLIED_CASH.value,
        invoice_filter="i.type = %s",
        params=[Invoice.Type.CREDIT.value],
    )
    for _entity_id, code, net, credit_balance in rows:
        net, credit_balance = _money(net), _money(credit_balance)
        result.mismatches.append(
            Mismatch(
                f"Entity {code}",
                f"unapplied cash accounts hold {-net} (CR - DR), credit invoices' balances sum to {credit_balance} "
                f"(expected {-credit_balance} held)",
            )
        )
    return result


def check_batch_controls(cursor, limit: int) -> CheckResult:
    result = CheckResult("batch_controls", "Posted batches' actual count and amount = their controls")
    required = FinanceSettings.objects.filter(pk=1).values_list("require_balanced_batches", flat=True).first()
    if required is None:
        required = FinanceSettings._meta.get_field("require_balanced_batches").default
    if not required:
        result.skipped = "finance settings do not require balanced batches"
        return result
    sql = f"""
        SELECT b.id AS k, b.number, b.control_count, b.control_amount,
               COALESCE(i.n, 0) + COALESCE(p.n, 0) AS actual_count, COALESCE(p.amount, 0) AS actual_amount
          FROM {T["batch"]} b
          LEFT JOIN (SELECT batch_id, COUNT(*) AS n FROM {T["inv"]} WHERE type <> %s GROUP BY batch_id) i
                 ON i.batch_id = b.id
          LEFT JOIN (SELECT batch_id, COUNT(*) AS n, SUM(amount) AS amount FROM {T["pay"]} GROUP BY batch_id) p
                 ON p.batch_id = b.id
         WHERE b.status = %s
           AND (b.control_count IS NULL OR b.control_amount IS NULL
                OR b.control_count <> COALESCE(i.n, 0) + COALESCE(p.n, 0)
                OR {_differs("b.control_amount", "COALESCE(p.amount, 0)")})
    """
    params = [Invoice.Type.CREDIT.value, Batch.Status.POSTED.value]
    result.count, rows = _fetch(cursor, sql, params, limit, "k")
    for _batch_id, number, control_count, control_amount, count, amount in rows:
        amount = _money(amount)
        controls = "none" if control_amount is None else _money(control_amount)
        result.mismatches.append(
            Mismatch(
                f"Batch {number} (posted)",
                f"count {count} vs control {'none' if control_count is None else control_count}; "
                f"amount {amount} vs control {controls}",
            )
        )
    return result


def ledger_references() -> list[models.ForeignKey]:
    """The foreign key fields (one-to-one included) of the finance models, in model and
    field order: the references the orphan check reads."""
    return [
        fk
        for model in apps.get_app_config("finance").get_models()
        for fk in model._meta.concrete_fields
        if isinstance(fk, models.ForeignKey)
    ]


def check_orphans(cursor, limit: int) -> CheckResult:
    """Rows whose reference names a row that is not there, per foreign key field of the
    finance models (one anti-join each). ``limit`` caps the listing of all of them
    together; the count is complete."""
    result = CheckResult("orphans", "References name rows that exist (no orphan rows)")
    for fk in ledger_references():
        model, target = fk.model, fk.target_field
        table, parent = model._meta.db_table, target.model._meta.db_table
        pk = model._meta.pk.column
        sql = f"""
            SELECT c.{pk} AS k, c.{fk.column}
              FROM {table} c
             WHERE c.{fk.column} IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{target.column} = c.{fk.column})
        """
        count, rows = _fetch(cursor, sql, [], limit, "k")
        result.count += count
        for row_id, value in rows[: max(limit - len(result.mismatches), 0)]:
            result.mismatches.append(
                Mismatch(
                    f"{str(model._meta.verbose_name).capitalize()} {row_id}",
                    f"{fk.name} names {target.model._meta.verbose_name} {target.column} {value}, "
                    f"which does not exist ({table}.{fk.column} → {parent}.{target.column})",
                )
            )
    return result


CHECKS: list[Callable] = [
    check_orphans,
    check_line_balances,
    check_invoice_totals,
    check_application_targets,
    check_payments,
    check_payment_postings,
    check_import_postings,
    check_journal_balanced,
    check_journal_has_lines,
    check_journal_line_sides,
    check_invoice_postings,
    check_ar_balance,
    check_unapplied_cash,
    check_batch_controls,
]


def installed_checks() -> list[Callable]:
    """The ledger's checks, then those of the apps built on it, in INSTALLED_APPS order:
    an app config's ``ledger_checks`` names functions of the same shape as the ledger's
    (``check(cursor, limit) -> CheckResult``) by dotted path (the reports' kept open
    balances, ``finance.reporting``)."""
    extra = [import_string(path) for config in apps.get_app_configs() for path in getattr(config, "ledger_checks", ())]
    return [*CHECKS, *extra]


def _run(limit: int) -> LedgerReport:
    with connection.cursor() as cursor:
        counts: list[int] = []
        for table in ("inv", "line", "pay", "je"):
            cursor.execute(f"SELECT COUNT(*) FROM {T[table]}")
            counts.append(cursor.fetchone()[0])
        checks = [check(cursor, limit) for check in installed_checks()]
    invoices, lines, payments, entries = counts
    return LedgerReport(invoices, lines, payments, entries, checks=checks)


def verify_ledger(*, limit: int = DEFAULT_LIMIT) -> LedgerReport:
    """Recompute every stored balance and check every ledger invariant; write nothing.

    ``limit`` caps the mismatches listed per check (the counts are always complete).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _run(limit)
    return _run(limit)
