"""Pagination that does not count a big table on every page view.

``COUNT(*)`` over a table of millions of rows costs PostgreSQL a full scan of it; an
unfiltered list takes the planner's row estimate (``pg_class.reltuples``, kept by
autovacuum/ANALYZE) instead and says so (``is_estimate``). A filtered list is counted
exactly: its rows are the ones someone is looking for.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Above this many rows (by the planner's estimate) an unfiltered list shows the
# estimate instead of running COUNT(*) over the whole table.
ESTIMATE_COUNT_ABOVE = 100_000


def estimated_rows(alias: str, table: str) -> int | None:
    """The planner's row count of ``table``, or None before ANALYZE."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """A paginator that trusts the row estimate for big unfiltered tables. A list that
    counted its rows already (in its totals' query) gives the count (``known_count``)
    and nothing is counted again."""

    _is_estimate = False

    def __init__(self, *args, known_count: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if known_count is not None:
            self.__dict__["count"] = known_count  # the cached_property's value

    @property
    def is_estimate(self) -> bool:
        """True when ``count`` is the planner's estimate, not an exact count."""
        self.count  # noqa: B018 - decides it
        return self._is_estimate

    @cached_property
    def count(self):
        qs = _queryset(self.object_list)
        estimate = None if qs is None else _big_table_estimate(qs)
        if estimate is not None:
            self._is_estimate = True
            return estimate
        return super().count


def _big_table_estimate(queryset) -> int | None:
    """The planner's estimate of the rows of ``queryset`` when it reads a whole table
    (no filter, no DISTINCT, no UNION) estimated above ``ESTIMATE_COUNT_ABOVE`` rows;
    None otherwise."""
    query = getattr(queryset, "query", None)
    if query is None or query.where or query.distinct or query.combinator:
        return None
    # A module global, looked up at each call: tests stand in for the planner.
    estimate = estimated_rows(queryset.db, queryset.model._meta.db_table)
    return estimate if estimate is not None and estimate > ESTIMATE_COUNT_ABOVE else None


def row_count(queryset) -> tuple[int, bool]:
    """The rule of every list, on a page or in the API: ``(count, is_estimate)``, the
    planner's estimate for a big unfiltered table, else ``COUNT(*)``."""
    estimate = _big_table_estimate(queryset)
    if estimate is not None:
        return estimate, True
    return queryset.count(), False


def is_big_unfiltered(queryset) -> bool:
    """True when ``queryset`` reads a whole table the planner estimates above
    ``ESTIMATE_COUNT_ABOVE`` rows: a list shows the estimate and adds nothing up."""
    return _big_table_estimate(queryset) is not None


def _queryset(object_list):
    """The queryset behind ``object_list``: itself, or (django-tables2) the queryset
    inside the table's rows (``BoundRows.data.data``)."""
    obj = object_list
    for _ in range(3):
        if obj is None or hasattr(obj, "query"):
            return obj
        obj = getattr(obj, "data", None)
    return None


class KnownCountPaginator(Paginator):
    """A paginator told its row count by the caller, which has it already (a page that
    counted the same rows for its figures), instead of counting them again."""

    def __init__(self, object_list, per_page, *args, count: int, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count
