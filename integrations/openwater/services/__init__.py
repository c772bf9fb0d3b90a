"""Services of the OpenWater pushback, one module per use case:

- ``setup``: the integration (create, update, Initialize, start, stop), its discount
  product and open batch, and the mapping of its programs to products;
- ``mapping``: an OpenWater invoice (and its user) read into plain data: lines,
  discounts, payments, refunds, the payer's details;
- ``contacts``: the payer's contact, matched or created;
- ``recording``: one OpenWater invoice recorded in the ledger (or skipped, or in error);
- ``refunds``: an OpenWater refund recorded as a record-only refund;
- ``staff``: what staff do about an invoice in error, and what a run does with one they
  took in hand.

Read queries are in ``integrations.openwater.selectors``; the errors in
``integrations.openwater.errors``.
"""
