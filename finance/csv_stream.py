"""CSV downloads of the staff UI, streamed: rows are written as the database hands them
over (an iterator in chunks), so a file of a million rows keeps memory flat. Every
file ends with a totals line. Text cells are escaped against formula injection; money
has two places; dates and times are written as on the pages (``core.dates``: the
configured format, the association's time zone)."""

import csv
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal

from django.http import StreamingHttpResponse

from core.dates import format_day, format_moment
from finance.money import quantize

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value) -> str:
    """A text cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, datetime.datetime):
        return format_moment(value)  # the association's time zone, never UTC
    if isinstance(value, datetime.date):
        return format_day(value)
    if isinstance(value, Decimal):
        return quantize(value)  # always two places in the file
    return value


class _Echo:
    def write(self, value):
        return value


Totals = Sequence | Callable[[], Iterable[Sequence]] | None


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Iterable], totals: Totals = None):
    """Stream ``header``, ``rows`` and the totals line(s) as CSV. ``totals`` is one line
    known before the rows, or a function called once the rows are written that returns
    the totals lines (a ``ColumnSums`` that added the rows up as they went by)."""
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(v) for v in row])
        if callable(totals):
            for line in totals():
                yield writer.writerow([csv_cell(v) for v in line])
        elif totals is not None:
            yield writer.writerow([csv_cell(v) for v in totals])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ColumnSums:
    """Adds up the number columns ``sum_at`` of streamed rows (per currency when
    ``currency_at`` is given), for the totals lines of a CSV: ``pass_through(rows)``
    yields the rows unchanged and keeps the sums; ``lines()`` returns one line per
    currency, "TOTAL" in the first column, the number of rows in ``count_at`` if given.
    The totals are those of the rows of the file, whatever they are."""

    def __init__(self, width: int, sum_at: Sequence[int], currency_at: int | None = None, count_at: int | None = None):
        self.width, self.sum_at, self.currency_at, self.count_at = width, sum_at, currency_at, count_at
        self.sums: dict[str, list] = {}
        self.counts: dict[str, int] = {}

    def pass_through(self, rows: Iterable[Sequence]) -> Iterator[Sequence]:
        for row in rows:
            currency = "" if self.currency_at is None else row[self.currency_at]
            sums = self.sums.setdefault(currency, [0] * len(self.sum_at))
            for i, at in enumerate(self.sum_at):
                sums[i] += row[at] or 0
            self.counts[currency] = self.counts.get(currency, 0) + 1
            yield row

    def lines(self) -> list[list]:
        out = []
        for currency in sorted(self.sums) or [""]:
            line: list = [""] * self.width
            line[0] = "TOTAL"
            if self.currency_at is not None:
                line[self.currency_at] = currency
            if self.count_at is not None:
                line[self.count_at] = self.counts.get(currency, 0)
            for at, value in zip(self.sum_at, self.sums.get(currency, [0] * len(self.sum_at)), strict=True):
                line[at] = value
            out.append(line)
        return out
