"""Read queries of the finance reports. Each report is one or two aggregate queries
run by the database (grouped sums with FILTER clauses); Python only reshapes the
aggregated rows (a day × method grid, at most a few hundred cells), never the
underlying invoices, payments or journal lines."""

import datetime
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from core.dates import format_day
from finance import selectors as finance_selectors
from finance.models import Batch, BatchInvoices, BatchReceipts, Contact, Invoice, Payment, PaymentMethod, Refund
from finance.money import ZERO
from finance.reporting.colours import method_style
from finance.reporting.models import ContactBalance, OpenBalanceByDate
from finance.triggers import INVOICE_FIGURES, RECEIPT_FIGURES, RECEIPT_KEYS, invoice_figures, payment_moves

# The kept open balances per currency and invoice date: a day's slots added up.
BY_DATE = f"""(SELECT currency, date, SUM(receivable) AS receivable, SUM(receivable_count) AS receivable_count,
                      SUM(credit) AS credit, SUM(credit_count) AS credit_count
                 FROM {OpenBalanceByDate._meta.db_table} GROUP BY currency, date)"""


MONEY = DecimalField(max_digits=14, decimal_places=2)


def _money_sum(column: str, condition: Q | None = None):
    return Coalesce(Sum(column, filter=condition), Value(ZERO), output_field=MONEY)


# --- AR aging ---------------------------------------------------------------------

# (key, label, lowest age in days, highest age in days or None) — age = as-of date −
# invoice date, as iMIS ages receivables by transaction date.
AGING_BUCKETS = [
    ("current", "Current (0–30)", None, 30),
    ("days_31_60", "31–60", 31, 60),
    ("days_61_90", "61–90", 61, 90),
    ("days_91_120", "91–120", 91, 120),
    ("over_120", "Over 120", 121, None),
]


def _bucket_condition(as_of: Date, low: int | None, high: int | None) -> Q:
    condition = Q()
    if low is not None:  # older than (low − 1) days: dated on or before as_of − low
        condition &= Q(date__lte=as_of - timedelta(days=low))
    if high is not None:
        condition &= Q(date__gte=as_of - timedelta(days=high))
    return condition


def _aging_annotations(as_of: Date, base: Q | None = None) -> dict:
    base = base or Q()
    sums = {
        key: _money_sum("balance", base & _bucket_condition(as_of, low, high)) for key, _, low, high in AGING_BUCKETS
    }
    sums["total"] = _money_sum("balance", base) if base else _money_sum("balance")
    return sums


def ar_position(as_of: Date) -> list[dict]:
    """Per currency, in one query: the aging buckets of open receivables (``total`` =
    open AR) and the open credit held (``credit_held``, a positive amount), from the
    kept balances per currency and date (``OpenBalanceByDate``, a few thousand rows)."""
    buckets, params = _bucket_sums(as_of, "receivable", "date")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT currency, {", ".join(buckets)}, SUM(receivable) AS total, -SUM(credit) AS credit_held
                  FROM {BY_DATE} kept
                 WHERE receivable_count > 0 OR credit_count > 0
                 GROUP BY currency
                 ORDER BY currency""",
            params,
        )
        return _page_rows(cursor)


# --- Dashboard --------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    amount: Decimal


@dataclass
class DashboardFigures:
    open_receivables: list[CurrencyAmount] = field(default_factory=list)
    open_credits: list[CurrencyAmount] = field(default_factory=list)
    receipts_today: list[CurrencyAmount] = field(default_factory=list)
    receipts_today_count: int = 0
    unposted_batches: int = 0


def receipts_of_day(receipts: "ReceiptsGrid", day: Date) -> list[CurrencyAmount]:
    """The cash received on ``day`` per currency, from a receipts grid that holds it:
    what the dashboard shows as "Receipts today", the day's row of the report."""
    return [
        CurrencyAmount(cur, receipts.day_currency_total(day, cur))
        for cur in receipts.currencies
        if receipts.day_currency_total(day, cur)
    ]


def dashboard_figures(today: Date) -> DashboardFigures:
    """Open receivables (positive invoice balances), open credits (negative balances,
    shown as a positive amount held), today's cash receipts (``cash_receipts`` of
    today, every batch: money in less money out, open credit used left out) and the
    number of batches not yet posted. The open figures are those of the AR position
    (``ar_position``: kept sums on PostgreSQL)."""
    position = ar_position(today)
    receipts = cash_receipts(today, today)
    return DashboardFigures(
        open_receivables=[CurrencyAmount(r["currency"], r["total"]) for r in position if r["total"]],
        open_credits=[CurrencyAmount(r["currency"], r["credit_held"]) for r in position if r["credit_held"]],
        receipts_today=receipts_of_day(receipts, today),
        receipts_today_count=receipts.day_count(today),
        unposted_batches=Batch.objects.filter(status__in=[Batch.Status.OPEN, Batch.Status.READY]).count(),
    )


def ar_aging_by_contact(as_of: Date, currency: str | None = None) -> QuerySet:
    """Open receivables (invoices with a positive balance) per bill-to contact and
    currency, split by age of the invoice; largest total first. Open credits
    (negative balances) are a separate report and are not netted here."""
    invoices = Invoice.objects.filter(balance__gt=0)
    if currency:
        invoices = invoices.filter(currency=currency)
    return (
        invoices.order_by()
        .values("bill_to_id", "bill_to__party_id", "bill_to__name", "currency")
        .annotate(invoice_count=Count("pk"), oldest=Min("date"), **_aging_annotations(as_of))
        .order_by("-total", "bill_to__name", "bill_to_id")
    )


class _ContactRows:
    """Rows grouped per bill-to contact and currency, for a paginator: the rows of the
    page are read from the kept balances and the page's contacts' invoices
    (``_kept_page``), and the contacts' party ids and names are read afterwards for the
    rows of the page only.
    ``count`` is the number of rows (one per contact and currency), known from the
    report's totals, so the grouping is not run a second time to count."""

    def __init__(self, count: int):
        self._count = count

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def _kept_page(self, offset: int, limit: int) -> list[dict]:  # pragma: no cover - each report defines it
        raise NotImplementedError

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop, _ = index.indices(self._count)
        rows = self._kept_page(start, max(stop - start, 0)) if stop > start else []
        contacts = dict(
            (pk, (party_id, name))
            for pk, party_id, name in Contact.objects.filter(pk__in=[r["bill_to_id"] for r in rows]).values_list(
                "pk", "party_id", "name"
            )
        )
        for row in rows:
            row["bill_to__party_id"], row["bill_to__name"] = contacts.get(row["bill_to_id"], ("", ""))
        return rows


def _bucket_sums(as_of: Date, amount: str, day: str) -> tuple[list[str], list]:
    """SQL sums of ``amount`` per aging bucket of the date ``day`` (one column per
    bucket key, 0.00 when empty) and their parameters, in order."""
    sums, params = [], []
    for key, _, low, high in AGING_BUCKETS:
        condition = ["TRUE"]
        if low is not None:
            condition.append(f"{day} <= %s")
            params.append(as_of - timedelta(days=low))
        if high is not None:
            condition.append(f"{day} >= %s")
            params.append(as_of - timedelta(days=high))
        sums.append(f"COALESCE(SUM({amount}) FILTER (WHERE {' AND '.join(condition)}), 0.00) AS {key}")
    return sums, params


def _page_rows(cursor) -> list[dict]:
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


class AgingRows(_ContactRows):
    """The AR aging rows of ``ar_aging_by_contact`` (largest total first, then by
    contact id). The page's contacts are read in order from the kept balances
    (``ContactBalance``, index ``contact_balance_receivable``) and only their open
    invoices are aggregated, in the same statement (one snapshot: the totals shown are
    those of the invoices), through the index on (bill-to, date): a few invoices per
    contact of the page."""

    def __init__(self, as_of: Date, count: int):
        super().__init__(count)
        self.as_of = as_of

    def _kept_page(self, offset: int, limit: int) -> list[dict]:
        buckets, params = _bucket_sums(self.as_of, "i.balance", "i.date")
        sql = f"""
            WITH page AS (
                SELECT contact_id, currency FROM {ContactBalance._meta.db_table} WHERE receivable > 0
                 ORDER BY receivable DESC, contact_id LIMIT %s OFFSET %s)
            SELECT i.bill_to_id, i.currency, COUNT(*) AS invoice_count, MIN(i.date) AS oldest,
                   {", ".join(buckets)}, SUM(i.balance) AS total
              FROM page p
              JOIN {Invoice._meta.db_table} i ON i.bill_to_id = p.contact_id AND i.currency = p.currency
             WHERE i.balance > 0
             GROUP BY i.bill_to_id, i.currency
             ORDER BY total DESC, i.bill_to_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [limit, offset, *params])
            return _page_rows(cursor)


def ar_aging_totals(as_of: Date) -> list[dict]:
    """The aging buckets summed over every contact, one row per currency, with the
    number of contacts owing, in one statement: the buckets from the kept balances per
    currency and invoice date (``OpenBalanceByDate``, a few thousand rows) and the
    contacts owing counted from the kept per-contact balances (``ContactBalance``)."""
    buckets, params = _bucket_sums(as_of, "receivable", "date")
    zeros = ", ".join(f"COALESCE(d.{key}, 0.00) AS {key}" for key, *_ in AGING_BUCKETS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH dated AS (
                    SELECT currency, {", ".join(buckets)}, SUM(receivable) AS total
                      FROM {BY_DATE} kept WHERE receivable_count > 0
                     GROUP BY currency),
                owing AS (
                    SELECT currency, COUNT(*) AS contact_count
                      FROM {ContactBalance._meta.db_table} WHERE receivable > 0
                     GROUP BY currency)
                SELECT currency, COALESCE(d.total, 0.00) AS total,
                       COALESCE(o.contact_count, 0) AS contact_count, {zeros}
                  FROM dated d FULL JOIN owing o USING (currency)
                 ORDER BY currency""",
            params,
        )
        return _page_rows(cursor)


# --- Cash receipts ----------------------------------------------------------------


@dataclass
class ReceiptsGrid:
    """Cash receipts per day (rows) and payment method (columns): money in less money
    out. A cash method's cell is what its payments brought in less what refunds and
    reversals of its payments took back that day (``cells``; ``received`` and
    ``refunded`` hold the two sides). Open credit used to pay (methods of type open credit) moves no money: it is
    kept apart (``credit_methods``, ``credit_cells``) and is in no total."""

    days: list[Date] = field(default_factory=list)
    methods: list[tuple[str, str, str]] = field(default_factory=list)  # (code, name, currency)
    cells: dict[tuple[Date, str, str], Decimal] = field(default_factory=dict)
    counts: dict[tuple[Date, str, str], int] = field(default_factory=dict)
    received: dict[tuple[Date, str, str], Decimal] = field(default_factory=dict)
    refunded: dict[tuple[Date, str, str], Decimal] = field(default_factory=dict)
    refund_counts: dict[tuple[Date, str, str], int] = field(default_factory=dict)
    reversal_counts: dict[tuple[Date, str, str], int] = field(default_factory=dict)
    credit_methods: list[tuple[str, str, str]] = field(default_factory=list)
    credit_cells: dict[tuple[Date, str, str], Decimal] = field(default_factory=dict)
    credit_counts: dict[tuple[Date, str, str], int] = field(default_factory=dict)
    styles: dict[str, dict] = field(default_factory=dict)  # method code → chart colour and pattern

    def row(self, day: Date) -> list[Decimal]:
        return [self.cells.get((day, code, cur), ZERO) for code, _, cur in self.methods]

    def credit_row(self, day: Date) -> list[Decimal]:
        return [self.credit_cells.get((day, code, cur), ZERO) for code, _, cur in self.credit_methods]

    def day_total(self, day: Date) -> Decimal:
        return sum(self.row(day), ZERO)

    def day_currency_total(self, day: Date, currency: str) -> Decimal:
        return sum((self.cells.get((day, code, cur), ZERO) for code, _, cur in self.methods if cur == currency), ZERO)

    def day_count(self, day: Date) -> int:
        return sum(self.counts.get((day, code, cur), 0) for code, _, cur in self.methods)

    def day_refunded(self, day: Date) -> Decimal:
        return sum((v for (d, _, _), v in self.refunded.items() if d == day), ZERO)

    def day_refund_count(self, day: Date) -> int:
        return sum(n for (d, _, _), n in self.refund_counts.items() if d == day)

    def day_reversal_count(self, day: Date) -> int:
        return sum(n for (d, _, _), n in self.reversal_counts.items() if d == day)

    def method_total(self, code: str, currency: str) -> Decimal:
        return sum((v for (d, c, cur), v in self.cells.items() if c == code and cur == currency), ZERO)

    def credit_method_total(self, code: str, currency: str) -> Decimal:
        return sum((v for (d, c, cur), v in self.credit_cells.items() if c == code and cur == currency), ZERO)

    @property
    def currencies(self) -> list[str]:
        return sorted({cur for _, _, cur in self.methods})

    def currency_total(self, currency: str) -> Decimal:
        return sum((v for (d, c, cur), v in self.cells.items() if cur == currency), ZERO)

    @property
    def refunded_total(self) -> Decimal:
        return sum(self.refunded.values(), ZERO)

    @property
    def payment_count(self) -> int:
        return sum(self.counts.values())

    @property
    def refund_count(self) -> int:
        return sum(self.refund_counts.values())

    @property
    def reversal_count(self) -> int:
        return sum(self.reversal_counts.values())

    @property
    def rows(self) -> list[dict]:
        return [
            {
                "day": d,
                "amounts": self.row(d),
                "total": self.day_total(d),
                "count": self.day_count(d),
                "refunded": self.day_refunded(d),
                "refund_count": self.day_refund_count(d),
                "reversal_count": self.day_reversal_count(d),
                "credits": self.credit_row(d),
            }
            for d in self.days
        ]

    def chart(self) -> dict:
        """The chart of the grid (``pcChart``): a stacked bar per day, a series per cash
        method in the method's own colour and pattern (net of refunds)."""
        several = len(self.currencies) > 1
        return {
            "labels": [format_day(d) for d in self.days],
            "series": [
                {
                    "label": f"{name} ({cur})" if several else name,
                    "data": [f"{self.cells.get((d, code, cur), ZERO):.2f}" for d in self.days],
                    **self.styles[code],
                }
                for code, name, cur in self.methods
            ],
        }

    @property
    def method_columns(self) -> list[dict]:
        """The cash methods' columns: code, name, currency and chart colour."""
        return [
            {"code": code, "name": name, "currency": cur, "colour": self.styles[code]["colour"]}
            for code, name, cur in self.methods
        ]

    @property
    def method_totals(self) -> list[Decimal]:
        return [self.method_total(code, cur) for code, _, cur in self.methods]

    @property
    def credit_totals(self) -> list[Decimal]:
        return [self.credit_method_total(code, cur) for code, _, cur in self.credit_methods]


# Which batches a report counts: those posted only, or every batch not deleted (open,
# ready and posted).
BATCHES_POSTED = "posted"
BATCHES_ALL = "all"
BATCH_CHOICES = [(BATCHES_ALL, "All batches (open, ready, posted)"), (BATCHES_POSTED, "Posted batches only")]


def batch_states(batches: str) -> list[str]:
    """The batch states a report counts for the choice ``batches`` (posted or all)."""
    if batches == BATCHES_POSTED:
        return [Batch.Status.POSTED]
    return [Batch.Status.OPEN, Batch.Status.READY, Batch.Status.POSTED]


def cash_receipts(
    date_from: Date, date_to: Date, *, batches: str = BATCHES_ALL, include_empty_days: bool = True
) -> ReceiptsGrid:
    """Cash received ``date_from``..``date_to`` per day and payment method (and
    currency), in one statement: money in (every payment, by its date and batch) less
    money out (refunds that succeeded, by their date and batch, and reversed payments,
    by the reversal's date and batch, each against the method of the payment it takes
    back). A day's figures therefore never change when a later day reverses or refunds.
    Open credit used to pay (a method of type open credit) is no cash: it comes back
    apart, in no total. ``batches`` chooses the transactions of posted batches only or
    of every open, ready and posted batch."""
    payment, refund = Payment._meta.db_table, Refund._meta.db_table
    # Money in and reversals: the kept receipts of each batch (BatchReceipts, a few rows
    # a batch and day, kept by the payment table's triggers); refunds (few, and a
    # pending one may succeed later) added up here.
    sql = f"""
        WITH moves AS (
            SELECT r.date, r.method_id, r.currency, r.batch_id, SUM(r.received) AS received,
                   SUM(r.reversed) AS refunded, SUM(r.received_count) AS n, 0 AS refunds,
                   SUM(r.reversal_count) AS reversals
              FROM {BatchReceipts._meta.db_table} r
             WHERE r.date BETWEEN %(date_from)s AND %(date_to)s
             GROUP BY r.date, r.method_id, r.currency, r.batch_id
            UNION ALL
            SELECT r.date, r.method_id, r.currency, r.batch_id, 0, SUM(r.amount), 0, COUNT(*), 0
              FROM (SELECT r.date, r.currency, r.batch_id, r.amount,
                           -- each refund's payment by its key (not a join the planner may
                           -- turn into a scan of every payment)
                           (SELECT p.method_id FROM {payment} p WHERE p.id = r.payment_id) AS method_id
                      FROM {refund} r
                     WHERE r.date BETWEEN %(date_from)s AND %(date_to)s AND r.status = %(succeeded)s) r
             GROUP BY r.date, r.method_id, r.currency, r.batch_id)
        SELECT m.date, pm.id, pm.code, pm.name, pm.type, m.currency,
               SUM(m.received), SUM(m.refunded), SUM(m.n)::int, SUM(m.refunds)::int, SUM(m.reversals)::int
          FROM moves m
          JOIN {Batch._meta.db_table} b ON b.id = m.batch_id
          JOIN {PaymentMethod._meta.db_table} pm ON pm.id = m.method_id
         WHERE b.status = ANY(%(states)s)
         GROUP BY m.date, pm.id, pm.code, pm.name, pm.type, m.currency
        HAVING SUM(m.n) <> 0 OR SUM(m.refunds) <> 0 OR SUM(m.reversals) <> 0"""
    params = {
        "date_from": date_from,
        "date_to": date_to,
        "states": batch_states(batches),
        "succeeded": Refund.Status.SUCCEEDED,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    grid = ReceiptsGrid()
    methods, credit_methods, days = set(), set(), set()
    for day, method_id, code, name, type_, currency, received, refunded, n, refunds, reversals in rows:
        key = (day, code, currency)
        grid.styles[code] = method_style(method_id)
        days.add(day)
        if type_ == PaymentMethod.Type.OPEN_CREDIT:
            # Credit used less credit uses reversed that day.
            grid.credit_cells[key] = received - refunded
            grid.credit_counts[key] = n
            credit_methods.add((code, name, currency))
            continue
        grid.received[key] = received
        grid.cells[key] = received - refunded
        grid.counts[key] = n
        if refunds or reversals:
            grid.refunded[key] = refunded
            grid.refund_counts[key] = refunds
            grid.reversal_counts[key] = reversals
        methods.add((code, name, currency))
    if include_empty_days:
        days = {date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)}
    grid.days = sorted(days)
    grid.methods = sorted(methods, key=lambda m: (m[2], m[0]))
    grid.credit_methods = sorted(credit_methods, key=lambda m: (m[2], m[0]))
    return grid


# --- Open credits -----------------------------------------------------------------


def open_credits_by_contact(currency: str | None = None) -> QuerySet:
    """Who holds open credit (invoices with a negative balance), how much (shown as a
    positive amount) and since when (the oldest such invoice's date)."""
    invoices = Invoice.objects.filter(balance__lt=0)
    if currency:
        invoices = invoices.filter(currency=currency)
    return (
        invoices.order_by()
        .values("bill_to_id", "bill_to__party_id", "bill_to__name", "currency")
        .annotate(
            held=Coalesce(-Sum("balance"), Value(ZERO), output_field=MONEY),
            credit_count=Count("pk"),
            since=Min("date"),
            latest=Max("date"),
        )
        .order_by("-held", "bill_to__name", "bill_to_id")
    )


class OpenCreditRows(_ContactRows):
    """The rows of ``open_credits_by_contact`` (most credit first, then by contact id).
    The page's contacts are read in order from the kept balances (``ContactBalance``,
    index ``contact_balance_credit``) and only their open credits are aggregated, in the
    same statement."""

    def _kept_page(self, offset: int, limit: int) -> list[dict]:
        sql = f"""
            WITH page AS (
                SELECT contact_id, currency FROM {ContactBalance._meta.db_table} WHERE credit < 0
                 ORDER BY credit, contact_id LIMIT %s OFFSET %s)
            SELECT i.bill_to_id, i.currency, -SUM(i.balance) AS held, COUNT(*) AS credit_count,
                   MIN(i.date) AS since, MAX(i.date) AS latest
              FROM page p
              JOIN {Invoice._meta.db_table} i ON i.bill_to_id = p.contact_id AND i.currency = p.currency
             WHERE i.balance < 0
             GROUP BY i.bill_to_id, i.currency
             ORDER BY held DESC, i.bill_to_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [limit, offset])
            return _page_rows(cursor)


def open_credit_totals() -> list[dict]:
    """Per currency: the credit held, by how many contacts, on how many credit
    invoices, and the oldest one's date, in one statement: the first three from the
    kept per-contact balances (``ContactBalance``), the date from the kept balances per
    currency and date (``OpenBalanceByDate``, through its unique index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT b.currency AS currency, -SUM(b.credit) AS held, COUNT(*) AS contact_count,
                       SUM(b.credit_count) AS credit_count,
                       (SELECT MIN(d.date) FROM {BY_DATE} d
                         WHERE d.currency = b.currency AND d.credit_count > 0) AS since
                  FROM {ContactBalance._meta.db_table} b
                 WHERE b.credit < 0
                 GROUP BY b.currency
                 ORDER BY b.currency"""
        )
        return _page_rows(cursor)


# --- Batch summary ----------------------------------------------------------------

SUMMARY_STATUSES = [Batch.Status.OPEN, Batch.Status.READY, Batch.Status.POSTED]


def _summary_filter(batches, status, date_from, date_to):
    batches = batches.filter(status__in=[status] if status else SUMMARY_STATUSES)
    if date_from:
        batches = batches.filter(date__gte=date_from)
    if date_to:
        batches = batches.filter(date__lte=date_to)
    return batches


def batch_summary_ids(
    *, status: str | None = None, date_from: Date | None = None, date_to: Date | None = None
) -> QuerySet:
    """The ids of the batches of the summary, newest first (cheap to count and page
    through; the per-batch figures are read for one page only)."""
    return (
        _summary_filter(Batch.objects.all(), status, date_from, date_to)
        .order_by("-date", "-pk")
        .values_list("pk", flat=True)
    )


def batch_summary(
    *,
    status: str | None = None,
    date_from: Date | None = None,
    date_to: Date | None = None,
    ids: list[int] | None = None,
) -> QuerySet[Batch]:
    """Open, ready and posted batches with control vs actual count and amount, as
    batch control counts them (``finance.selectors.batch_list``), and the differences
    (actual − control; empty when no control was entered). ``ids`` limits it to those
    batches (one page)."""
    batches = _summary_filter(finance_selectors.batch_list(), status, date_from, date_to)
    if ids is not None:
        batches = batches.filter(pk__in=ids)
    return batches.annotate(
        count_difference=F("actual_count") - F("control_count"),
        amount_difference=F("cash_total") - F("control_amount"),
    ).order_by("-date", "-pk")


def batch_summary_page(ids: list[int]) -> list[Batch]:
    """The batches ``ids`` (one page) newest first, with their figures counted for these
    batches only (``finance.selectors.batch_with_figures``) and the differences."""
    batches = finance_selectors.batch_with_figures(Batch.objects.filter(pk__in=ids).order_by("-date", "-pk"))
    for batch in batches:
        # Empty (None) when no control was entered, as in ``batch_summary``.
        batch.count_difference = None if batch.control_count is None else batch.actual_count - batch.control_count
        batch.amount_difference = None if batch.control_amount is None else batch.cash_total - batch.control_amount
    return batches


def batch_status_totals() -> list[dict]:
    """Number of batches per status (open, ready, posted)."""
    rows = dict(
        Batch.objects.filter(status__in=SUMMARY_STATUSES)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return [{"status": s, "label": s.label, "count": rows.get(s, 0)} for s in SUMMARY_STATUSES]


# --- Dashboard --------------------------------------------------------------------


def receipts_last_days(today: Date, days: int = 14) -> ReceiptsGrid:
    return cash_receipts(today - timedelta(days=days - 1), today)


def default_range(today: Date, days: int = 30) -> tuple[Date, Date]:
    return today - timedelta(days=days - 1), today


def parse_date(value: str | None) -> Date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _kept_mismatches(table: str, keys: list[str], columns: list[str], limit: int) -> tuple[int, list[tuple]]:
    """The rows of the kept figures ``table`` (key columns ``keys``, read from the
    invoice columns ``columns``) that differ from the open invoices', in one snapshot:
    (how many, the first ``limit`` as (*key, kept receivable, count, credit, count,
    recomputed receivable, count, credit, count)). Rows all zero on both sides are not
    differences."""
    key_list = ", ".join(keys)
    sql = f"""
        WITH re AS (
            SELECT {", ".join(f"{c} AS {k}" for c, k in zip(columns, keys, strict=True))},
                   COALESCE(SUM(balance) FILTER (WHERE balance > 0), 0) AS receivable,
                   COUNT(*) FILTER (WHERE balance > 0) AS receivable_count,
                   COALESCE(SUM(balance) FILTER (WHERE balance < 0), 0) AS credit,
                   COUNT(*) FILTER (WHERE balance < 0) AS credit_count
              FROM {Invoice._meta.db_table} WHERE balance <> 0 GROUP BY {", ".join(columns)}),
        kept AS (SELECT {key_list}, receivable, receivable_count, credit, credit_count
                   FROM {table} t
                  WHERE receivable <> 0 OR receivable_count <> 0 OR credit <> 0 OR credit_count <> 0)
        SELECT {", ".join(f"COALESCE(k.{k}, r.{k}) AS {k}" for k in keys)},
               k.receivable, k.receivable_count, k.credit, k.credit_count,
               r.receivable, r.receivable_count, r.credit, r.credit_count
          FROM kept k FULL JOIN re r ON {" AND ".join(f"r.{k} = k.{k}" for k in keys)}
         WHERE (k.receivable, k.receivable_count, k.credit, k.credit_count)
               IS DISTINCT FROM (r.receivable, r.receivable_count, r.credit, r.credit_count)
         ORDER BY {key_list}"""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    return len(rows), rows[:limit]


def contact_balance_mismatches(limit: int = 20) -> tuple[int, list[tuple]]:
    """The kept balances (``ContactBalance``) that differ from the invoices', in one
    snapshot: (how many, the first ``limit`` as (contact id, currency, kept receivable,
    count, credit, count, recomputed receivable, count, credit, count)). Rows all zero
    on both sides are not differences."""
    return _kept_mismatches(
        ContactBalance._meta.db_table, ["contact_id", "currency"], ["bill_to_id", "currency"], limit
    )


def open_balance_by_date_mismatches(limit: int = 20) -> tuple[int, list[tuple]]:
    """The kept balances per currency and invoice date (``OpenBalanceByDate``) that
    differ from the invoices', in one snapshot: (how many, the first ``limit`` as
    (currency, date, kept receivable, count, credit, count, recomputed receivable,
    count, credit, count)). Rows all zero on both sides are not differences."""
    return _kept_mismatches(BY_DATE, ["currency", "date"], ["currency", "date"], limit)


def _kept_batch_mismatches(
    table: str, keys: list[str], figures: tuple[str, ...], rows: str, limit: int
) -> tuple[int, list[tuple]]:
    """The keys of the kept batch figures ``table`` (summed over their slots) whose
    ``figures`` differ from the same figures added up from ``rows`` (the contributions
    of the underlying rows), in one snapshot: (how many, the first ``limit`` as (*key,
    *kept figures, *recomputed figures)). Keys all zero on both sides are not differences."""
    key_list = ", ".join(keys)
    sums = ", ".join(f"SUM({f}) AS {f}" for f in figures)
    nonzero = " OR ".join(f"SUM({f}) <> 0" for f in figures)
    sql = f"""
        WITH re AS (SELECT {key_list}, {sums} FROM ({rows}) m GROUP BY {key_list} HAVING {nonzero}),
        kept AS (SELECT {key_list}, {sums} FROM {table} GROUP BY {key_list} HAVING {nonzero})
        SELECT {", ".join(f"COALESCE(k.{k}, r.{k})" for k in keys)},
               {", ".join(f"k.{f}" for f in figures)}, {", ".join(f"r.{f}" for f in figures)}
          FROM kept k FULL JOIN re r ON {" AND ".join(f"r.{k} = k.{k}" for k in keys)}
         WHERE ({", ".join(f"k.{f}" for f in figures)}) IS DISTINCT FROM ({", ".join(f"r.{f}" for f in figures)})
         ORDER BY {", ".join(str(n) for n in range(1, len(keys) + 1))}"""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        found = cursor.fetchall()
    return len(found), found[:limit]


def batch_receipts_mismatches(limit: int = 20) -> tuple[int, list[tuple]]:
    """The kept receipts (``BatchReceipts``) that differ from the payments': (how many,
    the first ``limit`` as (batch id, date, method id, currency, kept received, count,
    reversed, count, recomputed received, count, reversed, count))."""
    return _kept_batch_mismatches(
        BatchReceipts._meta.db_table,
        RECEIPT_KEYS.split(", "),
        RECEIPT_FIGURES,
        payment_moves(Payment._meta.db_table),
        limit,
    )


def batch_invoice_mismatches(limit: int = 20) -> tuple[int, list[tuple]]:
    """The kept invoice figures (``BatchInvoices``) that differ from the invoices': (how
    many, the first ``limit`` as (batch id, kept invoice count, credit count, charges,
    recomputed invoice count, credit count, charges))."""
    return _kept_batch_mismatches(
        BatchInvoices._meta.db_table, ["batch_id"], INVOICE_FIGURES, invoice_figures(Invoice._meta.db_table), limit
    )
