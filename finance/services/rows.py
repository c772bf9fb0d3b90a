"""Writing several rows that name each other in one statement (one round trip).

A service that writes an invoice, its lines and its journal entry, or a payment, its
applications and its entry, needs the ids PostgreSQL gives the first rows in the later
ones. Instead of a statement per table (each a round trip, each waiting for the
previous one's id), the writes are chained as data-modifying common table expressions
of one statement: ``WITH inv AS (INSERT … RETURNING id), line AS (INSERT … VALUES
((SELECT id FROM inv), …)) …``. The rows are the same: every column is taken from the
model instance exactly as ``save()``/``bulk_create`` would write it (Python defaults,
``auto_now_add``, each field's own conversion), and every constraint, foreign key and
trigger of the tables applies as for any other INSERT or UPDATE (statement-level
triggers fire once per part of the statement; deferred checks run at commit).

A value that is a ``Ref`` is written as its SQL expression instead (a row written
earlier in the same statement, or a lookup done in the database).

The statements of the everyday services (these, and the lock statements before them)
are sent through ``prepared_cursor``: their parameters bound on the server and each
statement text prepared once per connection, so that the server does not parse, analyse
and plan again a statement it has run before (most of its time for these statements).
"""

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.models import Field as DjangoField
from django.db.models import Model
from psycopg.pq import Format

_TIMESTAMPTZ_OID = 1184
_PLACEHOLDER = re.compile(r"%[s%]")
_PLACEHOLDER_S = re.compile(r"%s")


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered (``$1``, ``$2``…) and ``%%`` as
    ``%``: the form the server binds (made once per statement text)."""
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


# Django opens its connections with psycopg's automatic preparation off
# (``prepare_threshold`` None), which also refuses an explicit ``prepare=True``. Its own
# cursors bind on the client and never prepare; this threshold, never reached by a
# statement executed without ``prepare=True``, lets ``_PreparingCursor`` prepare.
_NEVER_BY_COUNT = 2**62


class _PreparingCursor(psycopg.RawCursor):
    """A cursor that binds parameters on the server and prepares each statement text on
    first use (when ``LEDGER_PREPARED_STATEMENTS`` is on: off for a pooler that shares
    server sessions between transactions). It is handed SQL with ``%s`` placeholders
    (``prepared_cursor``), which Django's execute wrappers may have prefixed with
    statements of their own (the audit trail's actor, ``audit.context``): those are run
    first, as Django's own cursors run them (bound on the client, in one simple query),
    then the statement handed, prepared."""

    handed: str = ""  # the statement handed to the cursor, before any wrapper

    def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[override]
        if prepare is None:
            prepare = getattr(settings, "LEDGER_PREPARED_STATEMENTS", True)
        if prepare and self.connection.prepare_threshold is None:
            self.connection.prepare_threshold = _NEVER_BY_COUNT
        text = query.decode() if isinstance(query, bytes) else query
        params = list(params or ())
        handed, self.handed = self.handed, ""
        if handed and text != handed and text.endswith(handed):
            ahead = text[: -len(handed)]
            taken = _PLACEHOLDER_S.findall(ahead)
            if not ahead.rstrip().endswith(";") or len(taken) > len(params) or "%(" in ahead:
                return self._as_django(text, params, binary)
            super().execute(psycopg.ClientCursor(self.connection).mogrify(ahead, params[: len(taken)]), None)
            while self.nextset():
                pass
            text, params = handed, params[len(taken) :]
        elif text != handed:
            return self._as_django(text, params, binary)
        return super().execute(numbered(text), params, prepare=prepare, binary=binary)

    def _as_django(self, text, params, binary):
        """A statement changed otherwise: run as Django's own cursors do."""
        return super().execute(psycopg.ClientCursor(self.connection).mogrify(text, params), None, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg keeps the statement sent only when it is not a prepared one; Django
        # reads it there for its query log (and ``CaptureQueriesContext``).
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


@contextmanager
def prepared_cursor() -> Iterator:
    """A Django cursor (queries counted and logged as any other, through its execute
    wrappers) whose ``execute`` takes SQL with ``%s`` placeholders, sends it with the
    parameters bound on the server and prepares it once per connection (see the module
    doc)."""
    conn = connections[DEFAULT_DB_ALIAS]
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    raw = _PreparingCursor(conn.connection)
    # As Django's own cursors: the session's time zone for timestamps read.
    if conn.timezone != conn.connection.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT).timezone:
        register_tzloader(conn.timezone, raw)
    wrap = conn.make_debug_cursor if conn.queries_logged else conn.make_cursor
    cursor = wrap(raw)  # type: ignore[arg-type]  # any DB-API cursor (the stubs say a wrapper)
    with cursor:
        yield _Handing(cursor, raw)


class _Handing:
    """The cursor of ``prepared_cursor``: tells the cursor underneath which statement it
    is handed, before Django's execute wrappers see it."""

    def __init__(self, cursor, raw: _PreparingCursor):
        self.cursor, self.raw = cursor, raw

    def execute(self, sql: str, params=()):
        self.raw.handed = sql
        return self.cursor.execute(sql, list(params))

    def fetchone(self):
        return self.cursor.fetchone()

    def fetchall(self):
        return self.cursor.fetchall()


def id_sequence(cursor, table: str) -> str:
    """The id sequence of ``table`` as a constant for ``nextval`` in set-based writes,
    looked up once: written as ``nextval(pg_get_serial_sequence(...))`` the name is
    resolved again for every row (a third of a second per 100,000 ids)."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')::regclass::oid", [table])
    return f"{int(cursor.fetchone()[0])}::regclass"


@dataclass(frozen=True)
class Ref:
    """An SQL expression (with its parameters) standing for a column's value."""

    sql: str
    params: tuple = field(default_factory=tuple)


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _insert_head(model: type[Model]) -> tuple[list, str]:
    """The fields an INSERT of ``model`` writes (its concrete fields but the auto primary
    key), each with whether its ``pre_save`` is the plain one (the attribute's value), and
    ``INSERT INTO <table> (<columns>)`` (the same for every call: made once)."""
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))]
    columns = ", ".join(_qn(f.column) for f in fields)
    plain = [(f, type(f).pre_save is DjangoField.pre_save) for f in fields]
    return plain, f"INSERT INTO {_qn(model._meta.db_table)} ({columns})"


def insert_sql(objs: Sequence[Model], *, returning: tuple[str, ...] = ("id",)) -> tuple[str, list]:
    """``INSERT INTO <table> (<columns>) VALUES (…), … RETURNING <returning>`` for
    unsaved instances of one model (their concrete fields but the auto primary key)."""
    fields, head = _insert_head(type(objs[0]))
    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself (``connection`` is a proxy to it)
    rows: list[str] = []
    params: list = []
    for obj in objs:
        values = []
        for f, plain in fields:
            raw = getattr(obj, f.attname)
            if isinstance(raw, Ref):
                values.append(raw.sql)
                params.extend(raw.params)
                continue
            value = raw if plain else f.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):  # a database default
                values.append("DEFAULT")
                continue
            values.append("%s")
            params.append(f.get_db_prep_save(value, conn))
        rows.append("(" + ", ".join(values) + ")")
    sql = f"{head} VALUES {', '.join(rows)}"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    return sql, params


class Statement:
    """Parts (named CTEs) of one statement and the final SELECT that reads their results.

    Code that adds parts of its own to a statement another service runs (a receiver of
    ``finance.signals.invoices_writing``) reads their results with ``read`` and notes
    what it wrote in ``done``."""

    def __init__(self):
        self.parts: list[tuple[str, str]] = []
        self.params: list = []
        self.recursive = False
        self.reads: list[tuple[str, Callable[[Any], None]]] = []
        self.done: set[str] = set()

    def read(self, expression: str, then: Callable[[Any], None]) -> "Statement":
        """Have ``run_reading`` read ``expression`` too (a scalar subquery over the
        parts, without parameters) and call ``then`` with its value."""
        self.reads.append((expression, then))
        return self

    def add(self, name: str, sql: str, params=(), *, recursive: bool = False) -> "Statement":
        """Add a part; ``recursive``: it names itself (``WITH RECURSIVE``, which lets any
        part do so and changes nothing for the others)."""
        self.parts.append((name, sql))
        self.params.extend(params)
        self.recursive = self.recursive or recursive
        return self

    def insert(self, name: str, objs: Sequence[Model], *, returning: tuple[str, ...] = ("id",)) -> "Statement":
        sql, params = insert_sql(objs, returning=returning)
        return self.add(name, sql, params)

    def run_reading(self, columns: Sequence[str]) -> tuple:
        """Send the statement with a final ``SELECT <columns>`` (scalar expressions over
        the parts) and the ``read`` expressions; call each read's function with its value
        and return the values of ``columns``."""
        ((*values,),) = self.run("SELECT " + ", ".join([*columns, *(expression for expression, _ in self.reads)]))
        for (_, then), value in zip(self.reads, values[len(columns) :], strict=True):
            then(value)
        return tuple(values[: len(columns)])

    def run(self, select: str, params=()) -> list[tuple]:
        """Send the statement; return the rows of ``select`` (which reads the parts)."""
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in self.parts)
        with prepared_cursor() as cursor:
            cursor.execute(f"WITH {'RECURSIVE ' if self.recursive else ''}{ctes}\n{select}", [*self.params, *params])
            return cursor.fetchall()
