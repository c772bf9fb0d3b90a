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

from finance import selectors as finance_selectors
from finance.models import Batch, Contact, Invoice, Payment
from finance.money import ZERO

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
    open AR) and the open credit held (``credit_held``, a positive amount)."""
    receivable = Q(balance__gt=0)
    return list(
        Invoice.objects.exclude(balance=0)
        .order_by()
        .values("currency")
        .annotate(
            credit_held=Coalesce(-Sum("balance", filter=Q(balance__lt=0)), Value(ZERO), output_field=MONEY),
            **_aging_annotations(as_of, receivable),
        )
        .order_by("currency")
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


class AgingRows:
    """The AR aging rows of ``ar_aging_by_contact``, for a paginator: the aggregation
    runs on the open invoices alone (``bill_to``, ``date``, ``currency``, ``balance``
    all come from the index ``invoice_open_by_contact``), and the contacts' party ids
    and names are read afterwards for the rows of the page only. ``count`` is the
    number of rows (one per contact and currency), known from the totals."""

    def __init__(self, as_of: Date, count: int):
        self.as_of = as_of
        self._count = count

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def _grouped(self):
        return (
            Invoice.objects.filter(balance__gt=0)
            .order_by()
            .values("bill_to_id", "currency")
            .annotate(invoice_count=Count("*"), oldest=Min("date"), **_aging_annotations(self.as_of))
            .order_by("-total", "bill_to_id")
        )

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        rows = list(self._grouped()[index])
        contacts = dict(
            (pk, (party_id, name))
            for pk, party_id, name in Contact.objects.filter(pk__in=[r["bill_to_id"] for r in rows]).values_list(
                "pk", "party_id", "name"
            )
        )
        for row in rows:
            row["bill_to__party_id"], row["bill_to__name"] = contacts.get(row["bill_to_id"], ("", ""))
        return rows


def ar_aging_totals(as_of: Date) -> list[dict]:
    """The aging buckets summed over every contact, one row per currency, with the
    number of contacts owing (counted over the distinct contact and currency pairs,
    cheaper than COUNT(DISTINCT …) over every open invoice)."""
    totals = list(
        Invoice.objects.filter(balance__gt=0)
        .order_by()
        .values("currency")
        .annotate(**_aging_annotations(as_of))
        .order_by("currency")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT currency, COUNT(*) FROM (SELECT DISTINCT currency, bill_to_id FROM {Invoice._meta.db_table}
                 WHERE balance > 0) s GROUP BY currency"""
        )
        contacts = dict(cursor.fetchall())
    for row in totals:
        row["contact_count"] = contacts.get(row["currency"], 0)
    return totals


# --- Cash receipts ----------------------------------------------------------------


@dataclass
class ReceiptsGrid:
    """Posted receipts per day (rows) and payment method (columns)."""

    days: list[Date] = field(default_factory=list)
    methods: list[tuple[str, str, str]] = field(default_factory=list)  # (code, name, currency)
    cells: dict[tuple[Date, str, str], Decimal] = field(default_factory=dict)
    counts: dict[tuple[Date, str, str], int] = field(default_factory=dict)

    def row(self, day: Date) -> list[Decimal]:
        return [self.cells.get((day, code, cur), ZERO) for code, _, cur in self.methods]

    def day_total(self, day: Date) -> Decimal:
        return sum(self.row(day), ZERO)

    def day_currency_total(self, day: Date, currency: str) -> Decimal:
        return sum((self.cells.get((day, code, cur), ZERO) for code, _, cur in self.methods if cur == currency), ZERO)

    def day_count(self, day: Date) -> int:
        return sum(self.counts.get((day, code, cur), 0) for code, _, cur in self.methods)

    def method_total(self, code: str, currency: str) -> Decimal:
        return sum((v for (d, c, cur), v in self.cells.items() if c == code and cur == currency), ZERO)

    @property
    def currencies(self) -> list[str]:
        return sorted({cur for _, _, cur in self.methods})

    def currency_total(self, currency: str) -> Decimal:
        return sum((v for (d, c, cur), v in self.cells.items() if cur == currency), ZERO)

    @property
    def rows(self) -> list[dict]:
        return [
            {"day": d, "amounts": self.row(d), "total": self.day_total(d), "count": self.day_count(d)}
            for d in self.days
        ]

    @property
    def method_totals(self) -> list[Decimal]:
        return [self.method_total(code, cur) for code, _, cur in self.methods]


def cash_receipts(date_from: Date, date_to: Date, *, include_empty_days: bool = True) -> ReceiptsGrid:
    """Posted payments dated ``date_from``..``date_to`` summed per day and payment
    method (and currency). Reversed payments are left out: their money went back."""
    rows = (
        Payment.objects.filter(date__gte=date_from, date__lte=date_to, status=Payment.Status.POSTED)
        .order_by()
        .values("date", "method__code", "method__name", "currency")
        .annotate(amount=Sum("amount"), n=Count("pk"))
        .order_by("date", "method__code", "currency")
    )
    grid = ReceiptsGrid()
    methods, days = set(), set()
    for r in rows:
        key = (r["date"], r["method__code"], r["currency"])
        grid.cells[key] = r["amount"]
        grid.counts[key] = r["n"]
        methods.add((r["method__code"], r["method__name"], r["currency"]))
        days.add(r["date"])
    if include_empty_days:
        days = {date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)}
    grid.days = sorted(days)
    grid.methods = sorted(methods, key=lambda m: (m[2], m[0]))
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


def open_credit_totals() -> list[dict]:
    return list(
        Invoice.objects.filter(balance__lt=0)
        .order_by()
        .values("currency")
        .annotate(
            held=Coalesce(-Sum("balance"), Value(ZERO), output_field=MONEY),
            contact_count=Count("bill_to_id", distinct=True),
            credit_count=Count("pk"),
            since=Min("date"),
        )
        .order_by("currency")
    )


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
