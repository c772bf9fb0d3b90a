"""References between ledger rows checked once per statement (PostgreSQL).

A PostgreSQL foreign key checks each row a statement writes with one lookup of its own
(an internal query per row and per key): an AR import or a renewal run that writes
hundreds of thousands of payments, applications and journal lines spends most of its
time there (some 2 million lookups for a 100,000-row file). The references of the
tables those postings write are therefore enforced by triggers that check all the rows
of a statement at once, with the same guarantees:

- Writing rows (INSERT, COPY): after the statement, for each reference, the distinct
  keys of the new rows are looked up in the referenced table in one query, which also
  locks the referenced rows ``FOR KEY SHARE`` (as a foreign key check does), so that
  they cannot be deleted, nor their key changed, until the writing transaction ends. A
  key that is missing fails the statement with the foreign-key error (SQLSTATE 23503)
  naming the reference, the column and the key, and nothing of the statement stays.
- Changing a reference (UPDATE of the column): checked per changed row, the same way.
  Updates that leave the references alone (balances, statuses) run no check at all.
- Deleting a referenced row, or changing its key: after the statement, the referencing
  tables are searched for the old keys; one found fails the statement. A delete waits
  for the transactions that hold the row locked by their references, then sees what
  they committed (READ COMMITTED, as the application runs).

The checks run when the statement ends (a foreign key declared by Django is deferred to
the commit): a row must be written after the rows it refers to, as the services and
postings do. A reference's null key (or any null part of a composite key) is not
checked, as with MATCH SIMPLE.

The list of references lives in the migration that installs them, so that later
changes here do not alter a migration already applied; ``install_sql`` and
``remove_sql`` build the statements.
"""

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    name: str
    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...] = ("id",)

    @property
    def described(self) -> str:
        return f"({', '.join(self.columns)}) → {self.parent} ({', '.join(self.parent_columns)})"


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _key_text(alias: str, columns: tuple[str, ...]) -> str:
    return " || ', ' || ".join(f"{alias}.{c}::text" for c in columns)


def _not_null(alias: str, columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{alias}.{c} IS NOT NULL" for c in columns)


def _tuple(alias: str, columns: tuple[str, ...]) -> str:
    inner = ", ".join(f"{alias}.{c}" for c in columns)
    return f"({inner})" if len(columns) > 1 else inner


def _raise(ref: Reference, table: str, message: str, detail: str) -> str:
    return f"""
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = {_q(ref.name)},
            TABLE = {_q(table)}, SCHEMA = current_schema(),
            MESSAGE = {_q(message)}, DETAIL = format({_q(detail)}, k);"""


def _raise_missing(ref: Reference) -> str:
    columns = ", ".join(ref.columns)
    return _raise(
        ref,
        ref.table,
        f'insert or update on table "{ref.table}" violates foreign key constraint "{ref.name}"',
        f'Key ({columns})=(%s) is not present in table "{ref.parent}".',
    )


def _raise_referenced(ref: Reference) -> str:
    columns = ", ".join(ref.parent_columns)
    return _raise(
        ref,
        ref.parent,
        f'update or delete on table "{ref.parent}" violates foreign key constraint "{ref.name}" on table "{ref.table}"',
        f'Key ({columns})=(%s) is still referenced from table "{ref.table}".',
    )


def _insert_checks(refs: list[Reference]) -> tuple[list[str], str]:
    """The variables and the body that check the new rows' references of one table. The
    transition table is read once for the single-column references (each column's
    distinct keys into an array) and once per composite one; then, per reference, the
    referenced rows are locked with one index search over the array and counted; only
    when a key is missing is it searched for, for the message."""
    variables, gather, body = [], [], []
    for i, ref in enumerate(refs):
        arrays = [f"k{i}_{j}" for j in range(len(ref.columns))]
        variables += arrays
        if len(ref.columns) == 1:
            (c,) = ref.columns
            gather.append((f"array_agg(DISTINCT n.{c}) FILTER (WHERE n.{c} IS NOT NULL)", arrays[0]))
            locked = f"SELECT 1 FROM {ref.parent} p WHERE p.{ref.parent_columns[0]} = ANY ({arrays[0]})"
        else:
            body.append(f"""
    -- {ref.name}: the distinct keys
    SELECT {", ".join(f"array_agg(d.{c})" for c in ref.columns)} INTO {", ".join(arrays)}
      FROM (SELECT DISTINCT {", ".join(f"n.{c}" for c in ref.columns)} FROM new_rows n
             WHERE {_not_null("n", ref.columns)}) d;""")
            locked = (
                f"SELECT 1 FROM {ref.parent} p WHERE {_tuple('p', ref.parent_columns)} IN "
                f"(SELECT * FROM unnest({', '.join(arrays)}))"
            )
        unnested = f"unnest({', '.join(arrays)}) AS u({', '.join(ref.columns)})"
        match = " AND ".join(f"p.{pc} = u.{c}" for c, pc in zip(ref.columns, ref.parent_columns, strict=True))
        body.append(f"""
    -- {ref.name}: {ref.described}
    IF {arrays[0]} IS NOT NULL THEN
        SELECT count(*) INTO n_found FROM ({locked} FOR KEY SHARE OF p) l;
        IF n_found <> cardinality({arrays[0]}) THEN
            SELECT {_key_text("u", ref.columns)} INTO k FROM {unnested}
             WHERE NOT EXISTS (SELECT 1 FROM {ref.parent} p WHERE {match}) LIMIT 1;{_raise_missing(ref)}
        END IF;
    END IF;""")
    if gather:
        first = f"""
    SELECT {", ".join(expr for expr, _ in gather)}
      INTO {", ".join(var for _, var in gather)}
      FROM new_rows n;"""
        body.insert(0, first)
    return [f"{v} bigint[];" for v in variables], "".join(body)


def _update_check(ref: Reference) -> str:
    cols, pcols = ref.columns, ref.parent_columns
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in cols)
    match = " AND ".join(f"p.{pc} = NEW.{c}" for c, pc in zip(cols, pcols, strict=True))
    return f"""
    -- {ref.name}: {ref.described}
    IF {_not_null("NEW", cols)} AND ({changed}) THEN
        PERFORM 1 FROM {ref.parent} p WHERE {match} FOR KEY SHARE OF p;
        IF NOT FOUND THEN
            k := {_key_text("NEW", cols)};{_raise_missing(ref)}
        END IF;
    END IF;"""


def _referenced_check(ref: Reference, rows: str) -> str:
    cols, pcols = ref.columns, ref.parent_columns
    match = " AND ".join(f"c.{c} = o.{pc}" for c, pc in zip(cols, pcols, strict=True))
    return f"""
    -- {ref.name}: {ref.described}
    SELECT {_key_text("o", pcols)} INTO k FROM {rows} o
     WHERE EXISTS (SELECT 1 FROM {ref.table} c WHERE {match})
     LIMIT 1;
    IF FOUND THEN{_raise_referenced(ref)}
    END IF;"""


def _function(name: str, body: str, variables: list[str] = ()) -> str:
    declared = "".join(f"\n    {v}" for v in variables)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    k text;
    n_found bigint;{declared}
BEGIN{body}
    RETURN NULL;
END $fn$;
"""


def install_sql(references: list[Reference]) -> list[str]:
    """The statements that create the checking functions and triggers."""
    statements = []
    by_table: dict[str, list[Reference]] = defaultdict(list)
    by_parent: dict[str, list[Reference]] = defaultdict(list)
    for ref in references:
        by_table[ref.table].append(ref)
        by_parent[ref.parent].append(ref)
    for table, refs in by_table.items():
        name = f"{table}_refs_written"
        variables, body = _insert_checks(refs)
        statements.append(_function(name, body, variables))
        statements.append(
            f"CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
        name = f"{table}_refs_changed"
        columns = sorted({c for r in refs for c in r.columns})
        statements.append(_function(name, "".join(_update_check(r) for r in refs)))
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        statements.append(
            f"CREATE TRIGGER {name} AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {name}()"
        )
    for parent, refs in by_parent.items():
        name = f"{parent}_refs_deleted"
        statements.append(_function(name, "".join(_referenced_check(r, "old_rows") for r in refs)))
        statements.append(
            f"CREATE TRIGGER {name} AFTER DELETE ON {parent} REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
        name = f"{parent}_refs_rekeyed"
        body = "".join(
            _referenced_check(r, f"(SELECT {', '.join(f'OLD.{c} AS {c}' for c in r.parent_columns)})") for r in refs
        )
        statements.append(_function(name, body))
        pcols = sorted({c for r in refs for c in r.parent_columns})
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in pcols)
        statements.append(
            f"CREATE TRIGGER {name} AFTER UPDATE OF {', '.join(pcols)} ON {parent} "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {name}()"
        )
    return statements


def remove_sql(references: list[Reference]) -> list[str]:
    statements = []
    for table in dict.fromkeys(r.table for r in references):
        for suffix in ("written", "changed"):
            statements.append(f"DROP TRIGGER IF EXISTS {table}_refs_{suffix} ON {table}")
            statements.append(f"DROP FUNCTION IF EXISTS {table}_refs_{suffix}()")
    for parent in dict.fromkeys(r.parent for r in references):
        for suffix in ("deleted", "rekeyed"):
            statements.append(f"DROP TRIGGER IF EXISTS {parent}_refs_{suffix} ON {parent}")
            statements.append(f"DROP FUNCTION IF EXISTS {parent}_refs_{suffix}()")
    return statements
