"""The JSON API under /api/v1/: token auth, read endpoints, filters, money as strings,
the OpenAPI schema and the locally served docs."""

import datetime
import re
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiToken
from core.models import Module
from finance.models import Batch, Invoice
from finance.services.batches import batch_create, batch_transition
from finance.services.payments import payment_receive, payment_reverse
from tests.factories import CompanyFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db

BASE = "/api/v1"
MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")
MONEY_KEYS = {
    "total",
    "balance",
    "open_credit",
    "amount",
    "amount_applied",
    "unapplied",
    "unit_price",
    "control_amount",
    "amount_difference",
    "charges",
}


@pytest.fixture
def api_user(django_user_model, grant):
    user = django_user_model.objects.create_user("integration", password="pw-integration-1")
    return grant(user, Module.AR_CASH, 1)


@pytest.fixture
def token(api_user):
    return ApiToken.issue(user=api_user, name="Test integration")


@pytest.fixture
def api(client, token):
    """GET with the bearer token."""
    _, key = token

    def get(path, data=None, **extra):
        return client.get(BASE + path, data, HTTP_AUTHORIZATION=f"Bearer {key}", **extra)

    return get


@pytest.fixture
def books(ledger):
    """Two payers, three invoices, two payments (one leaves an open credit), two batches.

    alice: invoices 125.50 (Jan 10) and 80.00 (Feb 1); pays 150.00 → 0.00 and 55.50 open.
    acme:  invoice 40.00; pays 100.00 → 0.00 and an open credit of 60.00.
    """
    acme = CompanyFactory(party_id="20001", name="Acme Widgets", sort_name="Acme Widgets")
    alice = ContactFactory(party_id="10001", name="Alice Archer", sort_name="Archer, Alice", major_key="AA1")
    ContactFactory(party_id="10002", name="Bob Baker", sort_name="Baker, Bob", company=acme)
    jan = batch_create(date=datetime.date(2026, 1, 10), number="JAN-1", description="January")
    feb = batch_create(date=datetime.date(2026, 2, 1), number="FEB-1", description="February")
    inv1 = make_invoice(ledger, alice, jan, "125.50", date=datetime.date(2026, 1, 10))
    inv2 = make_invoice(ledger, alice, feb, "50.00", "30.00", date=datetime.date(2026, 2, 1))
    inv3 = make_invoice(ledger, acme, feb, "40.00", date=datetime.date(2026, 2, 3))
    pay_alice = payment_receive(
        payer=alice,
        method=ledger.check_method,
        amount="150.00",
        date=datetime.date(2026, 2, 5),
        batch=feb,
        reference="CHK 501",
    )
    pay_acme = payment_receive(
        payer=acme, method=ledger.cash_method, amount="100.00", date=datetime.date(2026, 2, 6), batch=feb
    )
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    return {
        "alice": alice,
        "acme": acme,
        "jan": jan,
        "feb": feb,
        "inv1": inv1,
        "inv2": inv2,
        "inv3": inv3,
        "credit": credit,
        "pay_alice": pay_alice,
        "pay_acme": pay_acme,
    }


def walk_money(data, found=None):
    """Every money value in a JSON document, by key."""
    found = [] if found is None else found
    if isinstance(data, dict):
        for key, value in data.items():
            if key in MONEY_KEYS and value is not None:
                found.append((key, value))
            else:
                walk_money(value, found)
    elif isinstance(data, list):
        for item in data:
            walk_money(item, found)
    return found


# --- Authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/contacts", "/contacts/10001", "/invoices", "/invoices/1000", "/payments", "/payments/1", "/batches"]
)
def test_no_token__401(client, path):
    response = client.get(BASE + path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_wrong_scheme_or_unknown_key__401(client, token):
    _, key = token
    assert client.get(BASE + "/contacts", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert client.get(BASE + "/contacts", HTTP_AUTHORIZATION="Bearer pc_not-a-real-key").status_code == 401
    assert client.get(BASE + "/contacts", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_revoked_token__401(api, token):
    api_token, _ = token
    assert api("/contacts").status_code == 200
    ApiToken.objects.filter(pk=api_token.pk).update(revoked=True)
    assert api("/contacts").status_code == 401


def test_token_of_inactive_user__401(api, api_user):
    api_user.is_active = False
    api_user.save(update_fields=["is_active"])
    assert api("/contacts").status_code == 401


def test_token_of_user_without_finance_level__403(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw-nobody-123")
    _, key = ApiToken.issue(user=user, name="No level")
    response = client.get(BASE + "/contacts", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403


def test_valid_token__records_last_use(api, token):
    api_token, _ = token
    assert api_token.last_used_at is None
    assert api("/batches").status_code == 200
    api_token.refresh_from_db()
    assert api_token.last_used_at is not None


def test_session_login_is_not_enough(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    assert client.get(BASE + "/contacts").status_code == 401


# --- Contacts -------------------------------------------------------------------------


def test_contacts__list_and_filters(api, books):
    body = api("/contacts").json()
    assert body["count"] == 3
    assert [c["party_id"] for c in body["items"]] == ["20001", "10001", "10002"]  # by sort name
    bob = body["items"][2]
    assert bob["company"] == {"party_id": "20001", "name": "Acme Widgets"}
    assert bob["kind"] == "individual" and bob["status"] == "active"

    def party_ids(**params):
        return [c["party_id"] for c in api("/contacts", params).json()["items"]]

    assert party_ids(q="archer") == ["10001"]
    assert party_ids(q="10002") == ["10002"]
    assert party_ids(party_id="20001") == ["20001"]
    assert party_ids(major_key="AA1") == ["10001"]
    assert party_ids(kind="organization") == ["20001"]
    assert party_ids(q="nobody-like-this") == []
    assert api("/contacts", {"kind": "martian"}).status_code == 422


def test_contacts__limit_offset(api, books):
    body = api("/contacts", {"limit": 1, "offset": 1}).json()
    assert body["count"] == 3
    assert [c["party_id"] for c in body["items"]] == ["10001"]


def test_contact_detail__balance_and_open_credit(api, books):
    alice = api("/contacts/10001").json()
    assert alice["name"] == "Alice Archer"
    assert alice["balance"] == "55.50"
    assert alice["open_credit"] == "0.00"
    assert alice["balances"] == [{"currency": "USD", "balance": "55.50", "open_credit": "0.00", "open_invoices": 1}]
    acme = api("/contacts/20001").json()
    assert acme["balance"] == "-60.00"
    assert acme["open_credit"] == "60.00"
    assert acme["balances"][0]["open_invoices"] == 1
    bob = api("/contacts/10002").json()
    assert bob["balance"] == "0.00" and bob["balances"] == []


def test_contact_detail__unknown__404(api, books):
    assert api("/contacts/99999").status_code == 404


# --- Invoices -------------------------------------------------------------------------


def numbers(response):
    assert response.status_code == 200, response.content
    return [i["number"] for i in response.json()["items"]]


def test_invoices__list_newest_first_with_strings_for_money(api, books):
    b = books
    body = api("/invoices").json()
    assert body["count"] == 4
    assert [i["number"] for i in body["items"]] == [
        b["credit"].number,
        b["inv3"].number,
        b["inv2"].number,
        b["inv1"].number,
    ]
    first = body["items"][-1]
    assert first["total"] == "125.50" and first["balance"] == "0.00"
    assert first["bill_to"] == {"party_id": "10001", "name": "Alice Archer"}
    assert first["batch"] == "JAN-1" and first["entity"] == "ASSN"
    assert first["type"] == "regular" and first["accounting_method"] == "accrual"
    assert first["date"] == "2026-01-10"


def test_invoices__filters(api, books):
    b = books
    assert numbers(api("/invoices", {"contact": "10001"})) == [b["inv2"].number, b["inv1"].number]
    assert numbers(api("/invoices", {"number": b["inv3"].number})) == [b["inv3"].number]
    assert numbers(api("/invoices", {"open": "true"})) == [b["credit"].number, b["inv2"].number]
    assert numbers(api("/invoices", {"open": "false"})) == [b["inv3"].number, b["inv1"].number]
    assert numbers(api("/invoices", {"type": "credit"})) == [b["credit"].number]
    assert numbers(api("/invoices", {"date_from": "2026-01-15", "date_to": "2026-02-03"})) == [
        b["inv3"].number,
        b["inv2"].number,
    ]
    assert numbers(api("/invoices", {"batch": "JAN-1"})) == [b["inv1"].number]
    assert numbers(api("/invoices", {"contact": "10001", "open": "true"})) == [b["inv2"].number]
    assert api("/invoices", {"date_from": "not-a-date"}).status_code == 422


def test_invoice_detail__lines_and_applications(api, books):
    inv2 = books["inv2"]
    body = api(f"/invoices/{inv2.number}").json()
    assert body["total"] == "80.00" and body["balance"] == "55.50"
    assert body["reversal_of"] is None
    assert [(ln["line_number"], ln["amount"], ln["balance"], ln["quantity"]) for ln in body["lines"]] == [
        (1, "50.00", "25.50", "1.00"),
        (2, "30.00", "30.00", "1.00"),
    ]
    assert body["lines"][0]["product"] == "ASSN-DUES" and body["lines"][0]["account"] == "4000-10"
    assert body["lines"][0]["unit_price"] == "50.00"
    assert [(a["payment_id"], a["line_number"], a["amount"], a["is_reversal"]) for a in body["applications"]] == [
        (books["pay_alice"].pk, 1, "24.50", False)
    ]


def test_invoice_detail__unknown__404(api, books):
    assert api("/invoices/424242").status_code == 404


# --- Payments -------------------------------------------------------------------------


def test_payments__list_and_filters(api, books, ledger):
    b = books
    body = api("/payments").json()
    assert body["count"] == 2
    assert [p["id"] for p in body["items"]] == [b["pay_acme"].pk, b["pay_alice"].pk]
    alice_pay = body["items"][1]
    assert alice_pay["amount"] == "150.00" and alice_pay["amount_applied"] == "150.00"
    assert alice_pay["unapplied"] == "0.00"
    assert alice_pay["method"] == "CHECK" and alice_pay["reference"] == "CHK 501"
    assert alice_pay["payer"] == {"party_id": "10001", "name": "Alice Archer"}
    assert alice_pay["status"] == "posted" and alice_pay["batch"] == "FEB-1"

    def ids(**params):
        response = api("/payments", params)
        assert response.status_code == 200, response.content
        return [p["id"] for p in response.json()["items"]]

    assert ids(payer="10001") == [b["pay_alice"].pk]
    assert ids(method="CASH") == [b["pay_acme"].pk]
    assert ids(reference="CHK 501") == [b["pay_alice"].pk]
    assert ids(date_from="2026-02-06") == [b["pay_acme"].pk]
    assert ids(date_to="2026-02-05") == [b["pay_alice"].pk]
    assert ids(batch="JAN-1") == []
    assert ids(status="reversed") == []
    reversal_batch = batch_create(date=datetime.date(2026, 2, 10), number="FEB-2")
    payment_reverse(payment=b["pay_alice"], batch=reversal_batch, reason="NSF")
    assert ids(status="reversed") == [b["pay_alice"].pk]
    reversed_one = api(f"/payments/{b['pay_alice'].pk}").json()
    assert reversed_one["reversal_reason"] == "NSF" and reversed_one["reversed_at"]
    assert reversed_one["reversal_date"] == timezone.localdate().isoformat()


def test_payment_detail__applications(api, books):
    b = books
    body = api(f"/payments/{b['pay_acme'].pk}").json()
    assert body["amount"] == "100.00"
    assert [(a["invoice"], a["line_number"], a["amount"]) for a in body["applications"]] == [
        (b["inv3"].number, 1, "40.00"),
        (b["credit"].number, 1, "60.00"),
    ]
    assert api("/payments/999999").status_code == 404
    assert api("/payments/abc").status_code == 422


# --- Batches --------------------------------------------------------------------------


def test_batches__list_and_status_filter(api, books, ledger):
    b = books
    batch_transition(batch=b["jan"], to_status=Batch.Status.READY)
    body = api("/batches").json()
    assert [x["number"] for x in body["items"]] == ["FEB-1", "JAN-1"]
    assert [x["number"] for x in api("/batches", {"status": "ready"}).json()["items"]] == ["JAN-1"]
    assert [x["number"] for x in api("/batches", {"status": "open"}).json()["items"]] == ["FEB-1"]
    assert api("/batches", {"status": "closed"}).status_code == 422


def test_batch_detail__control_against_actual(api, books):
    feb = books["feb"]
    Batch.objects.filter(pk=feb.pk).update(control_count=5, control_amount=D("240.00"))
    body = api("/batches/FEB-1").json()
    assert body["control_count"] == 5 and body["control_amount"] == "240.00"
    # two invoices + two payments (the credit invoice a payment creates is not counted)
    assert body["actual"] == {
        "count": 4,
        "amount": "250.00",
        "invoice_count": 2,
        "payment_count": 2,
        "charges": "120.00",
    }
    assert body["count_difference"] == -1
    assert body["amount_difference"] == "10.00"
    jan = api("/batches/jan-1").json()  # batch numbers are upper case; lookups forgive the case
    assert jan["number"] == "JAN-1"
    assert jan["control_amount"] is None and jan["amount_difference"] is None and jan["count_difference"] is None
    assert api("/batches/NOPE").status_code == 404


# --- Money rendering ------------------------------------------------------------------


def test_every_amount_is_a_two_decimal_string(api, books):
    Batch.objects.filter(pk=books["feb"].pk).update(control_count=4, control_amount=D("250.00"))
    documents = [
        api("/contacts/10001").json(),
        api("/contacts/20001").json(),
        api("/invoices").json(),
        api(f"/invoices/{books['inv2'].number}").json(),
        api("/payments").json(),
        api(f"/payments/{books['pay_acme'].pk}").json(),
        api("/batches").json(),
        api("/batches/FEB-1").json(),
    ]
    values = walk_money(documents)
    assert len(values) > 30
    for key, value in values:
        assert isinstance(value, str) and MONEY_RE.match(value), (key, value)


def test_lists__a_big_unfiltered_list_gives_the_estimate_and_counts_nothing(api, books, monkeypatch):
    """The staff lists' rule (``finance.pagination.row_count``): an unfiltered list of a
    big table answers the planner's estimate, says so and runs no COUNT(*); a filtered
    list is counted exactly."""
    table = "finance_contact"
    monkeypatch.setattr("finance.pagination.estimated_rows", lambda alias, t: 2_500_000 if t == table else None)
    api("/contacts")  # the token's first use writes last_used_at; measure after it
    with CaptureQueriesContext(connection) as captured:
        body = api("/contacts", {"limit": 2}).json()
    assert body["count"] == 2_500_000 and body["count_is_estimate"] is True
    assert len(body["items"]) == 2
    assert not [q for q in captured if "COUNT(" in q["sql"].upper()]

    filtered = api("/contacts", {"kind": "organization"}).json()
    assert filtered["count"] == 1 and filtered["count_is_estimate"] is False
    other_table = api("/batches").json()  # not a big table: counted
    assert other_table["count"] == Batch.objects.count() and other_table["count_is_estimate"] is False


# --- Query counts ---------------------------------------------------------------------


def _queries(api, path, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = api(path, params)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.parametrize("path", ["/contacts", "/invoices", "/payments", "/batches"])
def test_list_queries_do_not_grow_with_page_size(api, books, ledger, path):
    for i in range(6):
        contact = ContactFactory(company=books["acme"])
        batch = batch_create(date=datetime.date(2026, 3, 1 + i))
        make_invoice(ledger, contact, batch, "10.00", date=datetime.date(2026, 3, 1 + i))
        payment_receive(payer=contact, method=ledger.cash_method, amount="15.00", date=batch.date, batch=batch)
    api("/batches")  # the token's first use writes last_used_at; measure after it
    small = _queries(api, path, {"limit": 1})
    large = _queries(api, path, {"limit": 50})
    assert len(api(path, {"limit": 50}).json()["items"]) >= 6
    assert small == large


def test_detail_queries_do_not_grow_with_lines(api, books, ledger):
    from finance.services.invoices import LineSpec, invoice_create

    api("/batches")
    few = make_invoice(ledger, books["alice"], books["feb"], "1.00", date=datetime.date(2026, 2, 1))
    many = invoice_create(
        bill_to=books["alice"],
        entity=ledger.entity,
        batch=books["feb"],
        date=datetime.date(2026, 2, 1),
        lines=[LineSpec(product=p, unit_price=D("2.00")) for p in [ledger.dues, ledger.event] * 5],
    )
    assert _queries(api, f"/invoices/{few.number}") == _queries(api, f"/invoices/{many.number}")


# --- Schema and docs ------------------------------------------------------------------


def test_openapi_schema_lists_every_path_and_types_money_as_string(client):
    response = client.get(BASE + "/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        f"{BASE}/contacts",
        f"{BASE}/contacts/{{party_id}}",
        f"{BASE}/invoices",
        f"{BASE}/invoices/{{number}}",
        f"{BASE}/payments",
        f"{BASE}/payments/{{payment_id}}",
        f"{BASE}/batches",
        f"{BASE}/batches/{{number}}",
        f"{BASE}/subscriptions/packages",
        f"{BASE}/subscriptions/packages/{{package_id}}",
        f"{BASE}/subscriptions/packages/{{package_id}}/results",
    }
    assert schema["components"]["securitySchemes"]["ApiTokenAuth"] == {"type": "http", "scheme": "bearer"}
    components = schema["components"]["schemas"]
    for name, field in [
        ("InvoiceOut", "total"),
        ("InvoiceOut", "balance"),
        ("PaymentOut", "amount"),
        ("InvoiceLineOut", "unit_price"),
        ("ContactDetailOut", "open_credit"),
        ("BatchTotalsOut", "amount"),
    ]:
        prop = components[name]["properties"][field]
        assert prop["type"] == "string", (name, field, prop)
        assert prop["format"] == "decimal" and prop["pattern"] == r"^-?\d+\.\d{2}$"
    control = components["BatchOut"]["properties"]["control_amount"]
    assert {"type": "null"} in control["anyOf"]
    assert any(option.get("type") == "string" and option.get("format") == "decimal" for option in control["anyOf"])
    # enums of different models keep their own values
    assert components["PaymentOut"]["properties"]["status"]["enum"] == ["posted", "reversed"]
    assert components["BatchOut"]["properties"]["status"]["enum"] == ["open", "ready", "posted", "deleted"]
    assert "staff" in components["InvoiceOut"]["properties"]["source"]["enum"]
    assert "payment" in components["InvoiceOut"]["properties"]["source"]["enum"]


def test_docs_page_uses_local_static_files(client):
    response = client.get(BASE + "/docs")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/ninja/swagger-ui-bundle.js" in sources
    assert "/static/ninja/swagger-ui.css" in sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    assert "cdn" not in html.lower()
    for path in sources:
        assert finders.find(path.removeprefix("/static/")), f"{path} is not a local static file"


# --- Management command ---------------------------------------------------------------


def test_create_api_token_command_prints_the_key_once(client, api_user):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "integration", "Lockbox uploader", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get(name="Lockbox uploader")
    assert token.user == api_user and token.key_hash == ApiToken.hash_key(key)
    assert key not in err.getvalue() and token.prefix in err.getvalue()
    assert client.get(BASE + "/batches", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_create_api_token_command_refuses_unknown_user(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "ghost", "x", stdout=StringIO(), stderr=StringIO())
