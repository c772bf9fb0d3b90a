"""Signals the ledger sends to the rest of the product.

``invoices_created`` is sent inside the transaction that created the invoices, with
``invoices`` (a list; one element from ``invoice_create``, many from bulk creators such
as membership billing posting). Receivers that write rows (the processor sync records)
therefore commit or roll back with the invoices; receivers must not call outside
systems (use ``transaction.on_commit`` for that).
"""

from django.dispatch import Signal

invoices_created = Signal()
