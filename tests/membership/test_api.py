"""Subscription API: packages submitted over HTTP with a bearer token, processed by a
real Celery worker (Redis), status and results; idempotent keys; malformed packages."""

import datetime
import json
import time
from decimal import Decimal

import pytest

from api.models import ApiToken
from core.models import Module
from finance.ledger_check import verify_ledger
from finance.membership.models import SubscriptionPackage, SubscriptionPackageItem, Term
from finance.models import Invoice, Payment
from tests.membership.conftest import make_member

D = Decimal
DEC31 = datetime.date(2025, 12, 31)
URL = "/api/v1/subscriptions/packages"


@pytest.fixture
def token(membership_manager):
    return ApiToken.issue(user=membership_manager, name="Member portal")[1]


def post(client, token, body):
    return client.post(
        URL, data=json.dumps(body), content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def get(client, token, path):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def wait_done(client, token, package_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = get(client, token, f"{URL}/{package_id}").json()
        if body["status"] == "done":
            return body
        time.sleep(0.2)
    raise AssertionError(f"package {package_id} not processed: {body}")


def package(key="portal-2026-01-001"):
    return {
        "key": key,
        "invoice_date": "2026-01-05",
        "items": [
            {
                "party_id": "50001",
                "member_type": "REG",
                "term_begin": "2026-01-01",
                "term_end": "2026-12-31",
                "payment": {"method": "CHECK", "reference": "9001"},
            },
            {"party_id": "50002", "member_type": "STU", "term_begin": "2026-01-01", "term_end": "2026-12-31"},
            {"party_id": "50003", "member_type": "REG", "term_begin": "2026-01-01", "term_end": "2026-12-31"},
            {"party_id": "50009", "member_type": "REG", "term_begin": "2026-01-01", "term_end": "2026-12-31"},
            {"party_id": "50001", "member_type": "GOLD", "term_begin": "2027-01-01", "term_end": "2027-12-31"},
        ],
    }


@pytest.fixture
def api_members(member_types, ledger):
    from finance.membership.models import Subscription

    a = make_member(member_types["REG"], DEC31, party_id="50001")
    b = make_member(member_types["STU"], DEC31, party_id="50002")
    c = make_member(member_types["REG"], DEC31, party_id="50003")
    Subscription.objects.create(contact=c[0], member_type=member_types["STU"], join_date=DEC31, paid_through=DEC31)
    return a, b, c


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_package__worker_bills_items_results_and_resubmission_bills_nothing_twice(client, token, api_members, worker):
    resp = post(client, token, package())
    assert resp.status_code == 202, resp.content
    pid = resp.json()["id"]

    status = wait_done(client, token, pid)
    assert (status["item_count"], status["created_count"], status["error_count"]) == (5, 2, 3)
    assert status["batch"]

    results = get(client, token, f"{URL}/{pid}/results").json()
    by_pos = {r["position"]: r for r in results}
    inv_a = Invoice.objects.get(bill_to__party_id="50001")
    assert by_pos[0]["status"] == "created" and by_pos[0]["invoice_numbers"] == [inv_a.number]
    assert inv_a.balance == 0 and inv_a.total == D("300.00")  # paid by the CHECK payment
    assert Payment.objects.get(payer__party_id="50001").reference == "9001"
    assert by_pos[1]["status"] == "created"
    assert by_pos[2]["error"] == (
        "items[2], party_id: member 50003 has 2 active subscriptions (REG, STU); expected exactly one."
    )
    assert by_pos[3]["error"] == "items[3], party_id: no member with id '50009'."
    assert by_pos[4]["error"] == "items[4], member_type: unknown member type 'GOLD'."
    assert not Invoice.objects.filter(bill_to__party_id="50003").exists()

    # The same key and content again: the same package, nothing billed twice.
    again = post(client, token, package())
    assert again.status_code == 200 and again.json()["id"] == pid
    time.sleep(1)
    assert Term.objects.count() == 2 and SubscriptionPackage.objects.count() == 1
    # The same key with other content is refused.
    other = package()
    other["items"] = other["items"][:1]
    conflict = post(client, token, other)
    assert conflict.status_code == 409
    assert "was used for other content" in conflict.json()["detail"]
    # So is the same key and items with another invoice date.
    redated = package()
    redated["invoice_date"] = "2026-02-01"
    assert post(client, token, redated).status_code == 409
    assert verify_ledger().ok


@pytest.mark.django_db
def test_malformed_packages__clear_errors_nothing_stored(client, token, api_members):
    bad = package("bad-1")
    bad["items"][1]["term_end"] = "2025-06-30"
    bad["items"][2]["term_end"] = "2025-12-31"
    bad["items"].append(dict(bad["items"][0]))
    resp = post(client, token, bad)
    assert resp.status_code == 400
    assert resp.json()["problems"] == [
        "items[1].term_end: the term ends (2025-06-30) before it begins (2026-01-01).",
        "items[2].term_end: the term ends (2025-12-31) before it begins (2026-01-01).",
        "items[5]: repeats items[0] (same member and term).",
    ]
    missing = post(client, token, {"key": "bad-2", "invoice_date": "2026-01-05", "items": [{"party_id": "1"}]})
    assert missing.status_code == 422
    assert {e["loc"][-1] for e in missing.json()["detail"]} == {"member_type", "term_begin", "term_end"}
    negative = package("bad-4")
    negative["items"][0]["amount"] = "-5.00"
    assert post(client, token, negative).status_code == 422
    too_big = package("bad-6")  # more digits than a money column holds: refused, not a server error
    too_big["items"][0]["amount"] = "8320971121723180.10"
    resp = post(client, token, too_big)
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == "amount"
    from finance.membership.packages import PackageError, package_submit

    with pytest.raises(PackageError, match=r"items\[0\]\.amount: 1000000000000\.00 is more than a money column holds"):
        package_submit(
            key="bad-7",
            invoice_date=datetime.date(2026, 1, 5),
            items=[
                {
                    "party_id": "50001",
                    "member_type": "REG",
                    "term_begin": datetime.date(2026, 1, 1),
                    "term_end": datetime.date(2026, 12, 31),
                    "amount": Decimal("1000000000000.00"),
                }
            ],
        )
    as_number = package("bad-5")
    as_number["items"][0]["amount"] = 250.1
    as_number["items"][1]["term_begin"] = 0
    locs = {tuple(e["loc"][-3:]) for e in post(client, token, as_number).json()["detail"]}
    assert {("items", 0, "amount"), ("items", 1, "term_begin")} <= locs
    not_json = client.post(URL, data="{", content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    assert not_json.status_code in (400, 422)
    empty = post(client, token, {"key": "bad-3", "invoice_date": "2026-01-05", "items": []})
    assert empty.status_code == 400 and empty.json()["problems"] == ["items: at least one item is required."]
    assert not SubscriptionPackage.objects.exists() and not SubscriptionPackageItem.objects.exists()


@pytest.mark.django_db
def test_submitting_needs_membership_level_4_and_a_token(client, membership_manager, grant, api_members):
    grant(membership_manager, Module.MEMBERSHIP, 2)
    key = ApiToken.issue(user=membership_manager, name="read only")[1]
    resp = post(client, key, package())
    assert resp.status_code == 403
    assert client.post(URL, data=json.dumps(package()), content_type="application/json").status_code == 401
    assert not SubscriptionPackage.objects.exists()


@pytest.mark.django_db
def test_openapi_documents_the_subscription_endpoints(client, token):
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/subscriptions/packages", "/api/v1/subscriptions/packages/{package_id}/results"} <= set(
        schema["paths"]
    )
    assert "202" in schema["paths"]["/api/v1/subscriptions/packages"]["post"]["responses"]
