"""Signals the ledger sends to the rest of the product.

``invoices_created`` is sent inside the transaction that created the invoices, with
``invoices`` (a list; one element from ``invoice_create``, many from bulk creators such
as membership billing posting). Receivers that write rows (the processor sync records)
therefore commit or roll back with the invoices; receivers must not call outside
systems (use ``transaction.on_commit`` for that).

``invoices_writing`` is sent by ``invoice_create`` before the one statement that writes
the invoice (``finance.services.rows.Statement``) is sent, with ``statement`` and
``invoices``: pairs of the invoice (not yet saved: no id, its number maybe still to be
taken) and a ``Ref`` to its id in that statement. A receiver may add parts that write
rows of its own naming the invoice (they are then written by the invoice's own statement,
one round trip less), read their results (``Statement.read``) and put a name in
``statement.done``; ``invoices_created`` follows with ``written`` (that set; empty when
the invoices were written otherwise), so that its receiver does not write them again.
"""

from django.dispatch import Signal

invoices_created = Signal()
invoices_writing = Signal()
