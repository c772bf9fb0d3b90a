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
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


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
    key) and ``INSERT INTO <table> (<columns>)`` (the same for every call: made once)."""
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))]
    columns = ", ".join(_qn(f.column) for f in fields)
    return fields, f"INSERT INTO {_qn(model._meta.db_table)} ({columns})"


def insert_sql(objs: Sequence[Model], *, returning: tuple[str, ...] = ("id",)) -> tuple[str, list]:
    """``INSERT INTO <table> (<columns>) VALUES (…), … RETURNING <returning>`` for
    unsaved instances of one model (their concrete fields but the auto primary key)."""
    fields, head = _insert_head(type(objs[0]))
    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself (``connection`` is a proxy to it)
    rows: list[str] = []
    params: list = []
    for obj in objs:
        values = []
        for f in fields:
            raw = getattr(obj, f.attname)
            if isinstance(raw, Ref):
                values.append(raw.sql)
                params.extend(raw.params)
                continue
            value = f.pre_save(obj, add=True)
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
    """Parts (named CTEs) of one statement and the final SELECT that reads their results."""

    def __init__(self):
        self.parts: list[tuple[str, str]] = []
        self.params: list = []
        self.recursive = False

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

    def run(self, select: str, params=()) -> list[tuple]:
        """Send the statement; return the rows of ``select`` (which reads the parts)."""
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in self.parts)
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {'RECURSIVE ' if self.recursive else ''}{ctes}\n{select}", [*self.params, *params])
            return cursor.fetchall()
