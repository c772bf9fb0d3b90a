"""Dates and times as the staff UI writes them, for Python code (CSV files, chart
labels): the formats of ``core/formats`` (``DATE_FORMAT``, ``DATETIME_FORMAT``), a
moment shown in the association's time zone (``TIME_ZONE``), never in UTC."""

import datetime

from django.utils import formats, timezone


def format_day(value: datetime.date | None) -> str:
    """A day: "2026-01-15"; blank for None."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return format_moment(value)
    return formats.date_format(value, "DATE_FORMAT")


def format_moment(value: datetime.datetime | None) -> str:
    """A moment in the association's time zone: "2026-01-15 14:05"; blank for None."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATETIME_FORMAT")


# DATE_FORMAT as PostgreSQL's to_char() writes it, for text composed in SQL (the
# membership renewal run's line descriptions and skip reasons); a test keeps the two
# the same.
SQL_DAY_FORMAT = "YYYY-MM-DD"
