"""The bodies (PL/pgSQL) of the triggers that keep ``ContactBalance`` and
``OpenBalanceByDate``: what each INSERT, UPDATE and DELETE statement on the invoices
changes in the kept figures, added in the writing transaction, whoever writes (ORM, raw
SQL, COPY).

The triggers are declared on ``InvoiceBalanceTriggers`` (``finance.reporting.models``),
a proxy of the invoice. Each is AFTER ... FOR EACH STATEMENT with transition tables (new
rows as ``new_invoices``, old rows as ``old_invoices``): new rows are counted in and old
rows out, so a row moved to another contact, currency or date leaves one key and joins
the other, and a statement that changes no balance, contact, currency or date writes
nothing. One grouped upsert per kept table and statement, in key order, contacts first,
then dates, in every function: each statement takes the kept rows' locks in the same
order.
"""

# What a set of invoice rows adds to the kept figures, per key: the positive balances
# (receivable) and the negative ones (credit), with their counts.
_DELTA = """
    SELECT {keys},
           {sign} GREATEST(balance, 0) AS receivable, {sign} (balance > 0)::int AS receivable_count,
           {sign} LEAST(balance, 0) AS credit, {sign} (balance < 0)::int AS credit_count
      FROM {rows}
"""

_UPSERT = """
    INSERT INTO {table} AS s ({keys}, receivable, receivable_count, credit, credit_count)
    SELECT {keys}, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM ({rows}) d
     GROUP BY {keys}
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY {keys}
    ON CONFLICT ({keys}) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;
"""

# (kept table, its key columns, the invoice columns they are read from)
_CONTACTS = ("reporting_contactbalance", "contact_id, currency", "bill_to_id AS contact_id, currency")
# Per date, each statement adds to one of SLOTS rows, chosen by its server process: a
# long posting holds the rows of its slot until it commits, and the other sessions'
# invoices of the same day go on in theirs (readers add up the slots).
SLOTS = 16
_DATES = (
    "reporting_openbalancebydate",
    "currency, date, slot",
    f"currency, date, (pg_backend_pid() % {SLOTS})::smallint AS slot",
)

# The transition tables each trigger function reads: (sign, table) pairs.
_ROWS = {
    "insert": [("", "new_invoices")],
    "update": [("", "new_invoices"), ("-", "old_invoices")],
    "delete": [("-", "old_invoices")],
}


def _body(event: str) -> str:
    upserts = []
    for table, keys, columns in (_CONTACTS, _DATES):
        rows = " UNION ALL ".join(_DELTA.format(keys=columns, sign=sign, rows=src) for sign, src in _ROWS[event])
        upserts.append(_UPSERT.format(table=table, keys=keys, rows=rows))
    return "".join(upserts) + "\n    RETURN NULL;\n"


KEEP_INSERTED_BALANCES = _body("insert")
KEEP_UPDATED_BALANCES = _body("update")
KEEP_DELETED_BALANCES = _body("delete")
