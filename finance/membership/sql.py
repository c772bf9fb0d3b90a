"""The database keeps subscriptions' paid-through and renewed-through dates.

Any payment path (staff entry, AR import's set-based SQL, open credit, processor sync)
writes ``finance_paymentapplication`` rows, and reversing an invoice sets
``finance_invoice.reversed_at``; two triggers recompute the dates of the subscriptions
whose term invoices those rows touch (see ``finance.membership.models``):

- ``membership_applications_written``: AFTER INSERT ... FOR EACH STATEMENT on the
  payment applications, new rows as ``new_rows`` (one recompute per INSERT statement,
  however many rows);
- ``membership_invoice_reversed``: AFTER UPDATE OF reversed_at ... FOR EACH ROW on the
  invoices, when it changes.

They are declared on the proxies ``PaymentApplicationDateTriggers`` and
``InvoiceDateTriggers`` (``finance.membership.models``) with the bodies below. Both call
the plain SQL function ``membership_refresh_subscriptions(bigint[])``, which the services
call too (``refresh_subscriptions``) after writing terms; its body is
``REFRESH_SUBSCRIPTIONS_BODY``, installed by migration 0005 with its own search_path (a
test checks that the database's function is this body).
"""

from django.db import connection

# The body of membership_refresh_subscriptions(ids bigint[]) RETURNS void (plpgsql).
REFRESH_SUBSCRIPTIONS_BODY = """
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    UPDATE membership_subscription s
       SET renewed_through = GREATEST(s.opening_paid_through, x.renewed),
           paid_through = GREATEST(s.opening_paid_through, x.paid)
      FROM (SELECT sub.id AS subscription_id,
                   MAX(t.term_end) FILTER (WHERE i.reversed_at IS NULL) AS renewed,
                   MAX(t.term_end) FILTER (
                       WHERE i.reversed_at IS NULL
                         AND (SELECT COALESCE(SUM(a.amount), 0) FROM finance_paymentapplication a
                               WHERE a.line_id = t.primary_line_id) >= l.amount
                   ) AS paid
              FROM membership_subscription sub
              LEFT JOIN membership_term t ON t.subscription_id = sub.id
              LEFT JOIN finance_invoice i ON i.id = t.invoice_id
              LEFT JOIN finance_invoiceline l ON l.id = t.primary_line_id
             WHERE sub.id = ANY(ids)
             GROUP BY sub.id) x
     WHERE s.id = x.subscription_id
       AND (s.renewed_through IS DISTINCT FROM GREATEST(s.opening_paid_through, x.renewed)
            OR s.paid_through IS DISTINCT FROM GREATEST(s.opening_paid_through, x.paid));
END;
"""

# membership_applications_written: the subscriptions whose primary term lines the
# statement's applications name.
APPLICATIONS_WRITTEN = """
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT DISTINCT t.subscription_id FROM new_rows n JOIN membership_term t ON t.primary_line_id = n.line_id));
    RETURN NULL;
"""

# membership_invoice_reversed: the subscriptions with a term on the invoice.
INVOICE_REVERSED = """
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT t.subscription_id FROM membership_term t WHERE t.invoice_id = NEW.id));
    RETURN NULL;
"""


def refresh_subscriptions(subscription_ids) -> None:
    """Recompute the dates of these subscriptions now (after terms were written)."""
    ids = [int(i) for i in subscription_ids]
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT membership_refresh_subscriptions(%s::bigint[])", [ids])
