"""Property: on random books, the AR import's set-based posting gives the ledger that
``payment_receive`` gives when the same rows are entered one at a time (the one rule
of allocation, application and posting): the same applications, invoice balances,
credit invoices and journal amounts per account, and the same preview."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.ar_import.services import ar_import_post
from finance.models import Invoice
from finance.models_ar_import import ARImport
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import (
    _post_one_row_at_a_time,
    _snapshot,
    assert_ledger_ok,
    error_texts,
    imis,
    pay,
    validate,
)

pytestmark = pytest.mark.django_db(transaction=False)
DAY = datetime.date(2026, 1, 10)

cents = st.integers(min_value=1, max_value=40_000).map(lambda c: Decimal(c) / 100)
invoices = st.lists(
    st.fixed_dictionaries(
        {
            "payer": st.integers(0, 2),
            "days_before": st.integers(0, 40),
            "lines": st.lists(cents, min_size=1, max_size=3),
            "cash_membership": st.booleans(),
        }
    ),
    min_size=0,
    max_size=6,
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "payer": st.integers(0, 2),
            "amount": cents,
            # With auto apply off: which of the payer's invoices the row names (None: a
            # number that is no invoice's).
            "names": st.one_of(st.none(), st.integers(0, 5)),
        }
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(books=invoices, pays=rows, auto_apply=st.booleans())
def test_set_based_posting_equals_the_services_one_row_at_a_time(ledger, books, pays, auto_apply):
    with transaction.atomic():
        batch = BatchFactory()
        payers = [ContactFactory(party_id=str(301 + i)) for i in range(3)]
        made: list[list[Invoice]] = [[], [], []]
        for spec in books:
            kwargs = (
                {"accounting_method": Invoice.AccountingMethod.CASH, "type": Invoice.Type.MEMBERSHIP}
                if spec["cash_membership"]
                else {}
            )
            inv = make_invoice(
                ledger,
                payers[spec["payer"]],
                batch,
                *[str(a) for a in spec["lines"]],
                date=DAY - datetime.timedelta(days=spec["days_before"]),
                **kwargs,
            )
            made[spec["payer"]].append(inv)
        lines = []
        for i, row in enumerate(pays, start=1):
            named = ""
            if not auto_apply:
                own = made[row["payer"]]
                named = own[row["names"] % len(own)].number if own and row["names"] is not None else "990000"
            lines.append(pay(301 + row["payer"], str(row["amount"]), check=str(i), invoice=named))
        data = imis(*lines)
        results = {}
        for way in ("row by row", "set-based"):
            with transaction.atomic():
                imp = validate(data, auto_apply=auto_apply)
                assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
                preview = list(imp.rows.order_by("line_number").values_list("plan_applied", "plan_credit", "plan_text"))
                if way == "set-based":
                    imp = ar_import_post(ar_import=imp)
                    posted = list(
                        imp.rows.order_by("line_number").values_list("plan_applied", "plan_credit", "plan_text")
                    )
                else:
                    posted = _post_one_row_at_a_time(imp)
                assert preview == posted
                assert_ledger_ok()
                results[way] = (_snapshot(), posted)
                transaction.set_rollback(True)
        assert results["row by row"] == results["set-based"]
        transaction.set_rollback(True)
