"""The payer of an OpenWater invoice. OpenWater's invoice detail names the applicant
billed only by ``userId`` (with the invoice's ``thirdPartyCorporateId``); the email,
names and the person's ``thirdPartyUniqueId`` are the user's (``GET /v2/Users/{id}``),
asked once per distinct user per run. Over real HTTP against the sandbox OpenWater
(live server), on PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from finance.ledger_check import verify_ledger
from finance.models import Contact, Invoice, Payment
from integrations.openwater.client import OpenWaterUserNotFound, UserCache
from integrations.openwater.errors import UserNeeded
from integrations.openwater.models import InvoiceSync
from integrations.openwater.pushback import RunBusy, run_pushback
from integrations.openwater.services.recording import invoice_record
from tests.factories import CompanyFactory, ContactFactory
from tests.openwater.conftest import AWARDS, GRANTS

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def run(integration, make_client):
    with make_client(integration) as client:
        result = run_pushback(integration.pk, client=client)
    assert not isinstance(result, RunBusy)
    return result


def synced(ow):
    return InvoiceSync.objects.select_related("contact").get(ow_invoice_id=ow.id)


def test_documented_invoice__matched_by_the_users_email(integration, sandbox, make_client):
    known = ContactFactory(name="Ada King", email="ADA@example.org")
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["75.10"])
    # The invoice detail as OpenWater documents it: the user's id, no email or name.
    detail = sandbox.detail(ow.id)
    assert detail["userId"] == 1 and not {"email", "firstName", "lastName"} & set(detail)
    contacts = Contact.objects.count()

    result = run(integration, make_client)

    sync = synced(ow)
    assert (result.pushed, result.errors) == (1, 0) and sync.status == "pushed"
    assert sync.contact_id == known.pk and not sync.contact_created
    assert sync.email == "ada@example.org"
    assert Contact.objects.count() == contacts
    assert sync.invoice.bill_to_id == known.pk and sync.payment.payer_id == known.pk
    assert verify_ledger().ok


def test_users_third_party_unique_id__a_party_id_or_a_major_key__comes_first(integration, sandbox, make_client):
    by_party_id = ContactFactory(party_id="23456", email="ada.king@lovelace.example")
    by_major_key = ContactFactory(major_key="HOP-1906", email="g.hopper@navy.example")
    ContactFactory(email="ada@example.org")  # the user's email, another contact: not the payer
    sandbox.add_user(7, "ada@example.org", "Ada Lovelace", "23456")
    sandbox.add_user(8, "grace@example.org", "Grace Hopper", "HOP-1906")
    first = sandbox.add_invoice(program_id=AWARDS, user_id=7, lines=["40.00"])
    second = sandbox.add_invoice(program_id=AWARDS, user_id=8, lines=["25.00"])
    contacts = Contact.objects.count()

    assert run(integration, make_client).pushed == 2

    assert synced(first).contact_id == by_party_id.pk and not synced(first).contact_created
    assert synced(second).contact_id == by_major_key.pk and not synced(second).contact_created
    assert Contact.objects.count() == contacts
    assert verify_ledger().ok


def test_corporate_id__after_the_person_before_the_email(integration, sandbox, make_client):
    """The invoice's thirdPartyCorporateId bills the company it names when the user's
    unique id names no contact; the person named by the unique id comes first."""
    company = CompanyFactory(party_id="50100", email="accounts@acme.example")
    member = ContactFactory(party_id="50101", email="ada@example.org", company=company)
    sandbox.add_user(7, "ada@example.org", "Ada Lovelace", "50101")
    sandbox.add_user(8, "ada@example.org", "Ada Lovelace", "no-such-id")
    company_billed = sandbox.add_invoice(program_id=AWARDS, user_id=8, lines=["30.00"], corporate_id="50100")
    person_first = sandbox.add_invoice(program_id=AWARDS, user_id=7, lines=["20.00"], corporate_id="50100")

    assert run(integration, make_client).pushed == 2

    assert synced(company_billed).contact_id == company.pk
    assert synced(person_first).contact_id == member.pk
    assert not InvoiceSync.objects.filter(contact_created=True).exists()
    assert verify_ledger().ok


def test_new_payer__a_contact_with_the_users_name_and_email(integration, sandbox, make_client):
    sandbox.add_user(9, "grace.hopper@navy.example", "Grace Hopper", "unknown-7")
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=9, lines=["120.00", "25.05"], corporate_id="unknown-corp")
    contacts = Contact.objects.count()

    assert run(integration, make_client).pushed == 1

    sync = synced(ow)
    contact = sync.contact
    assert sync.contact_created and Contact.objects.count() == contacts + 1
    assert (contact.name, contact.sort_name, contact.email) == (
        "Grace Hopper",
        "Hopper, Grace",
        "grace.hopper@navy.example",
    )
    assert contact.kind == Contact.Kind.INDIVIDUAL and contact.company_id is None and contact.major_key is None
    assert sync.invoice.bill_to_id == contact.pk and sync.invoice.total == D("145.05")
    assert verify_ledger().ok


def test_users__one_request_per_distinct_user_per_run(integration, sandbox, make_client):
    start = datetime.now(UTC) - timedelta(minutes=30)
    for n in range(5):
        sandbox.add_invoice(program_id=AWARDS, user_id=1 + n % 2, lines=["10.00"], paid_at=start + timedelta(seconds=n))
    sandbox.add_invoice(program_id=GRANTS, user_id=3, lines=["5.00"])  # unmapped: skipped, its user not needed

    first = run(integration, make_client)

    assert (first.pushed, first.skipped, first.errors) == (5, 1, 0)
    assert sandbox.paths["/v2/Users/1"] == sandbox.paths["/v2/Users/2"] == 1
    assert sandbox.requests_to("/v2/Users/") == 2

    # The next run: pushed invoices are not fetched again; new ones ask for their user once more.
    for _ in range(3):
        sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["3.00"])
    second = run(integration, make_client)
    assert second.pushed == 3 and sandbox.paths["/v2/Users/2"] == 2 and sandbox.requests_to("/v2/Users/") == 3
    assert Invoice.objects.filter(source="openwater").count() == 8
    assert verify_ledger().ok


def test_user_cache__threads_asking_for_the_same_user_share_one_request(integration, sandbox, make_client):
    sandbox.add_fault("/v2/Users/1", "slow", seconds=0.5)  # the first answer takes a while
    threads, results, errors = 8, [], []
    barrier = threading.Barrier(threads)
    with make_client(integration) as client:
        users = UserCache(client)

        def ask():
            barrier.wait()
            try:
                results.append(users.get(1))
            except Exception as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=ask) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
    assert errors == [] and len(results) == threads
    assert {r["email"] for r in results} == {"ada@example.org"}
    assert sandbox.paths["/v2/Users/1"] == 1


def test_user_not_found__invoice_in_error_for_staff_and_recorded_next_run(integration, sandbox, make_client):
    first = sandbox.add_invoice(program_id=AWARDS, user_id=404, lines=["42.00"])
    second = sandbox.add_invoice(program_id=AWARDS, user_id=404, lines=["8.00"])
    contacts = Contact.objects.count()

    result = run(integration, make_client)

    assert (result.status, result.pushed, result.errors) == ("succeeded", 0, 2)
    for ow in (first, second):
        sync = synced(ow)
        assert sync.status == "error" and sync.invoice_id is None
        assert sync.last_error.startswith("OpenWater user 404 not found: ")
        assert "skip the invoice here or mark it recorded by hand" in sync.last_error
        assert "GET /v2/Users/404: HTTP 404" in sync.last_error_detail
    assert sandbox.paths["/v2/Users/404"] == 1  # the answer is kept for the run
    assert not Invoice.objects.filter(source="openwater").exists() and not Payment.objects.exists()
    assert Contact.objects.count() == contacts

    sandbox.add_user(404, "late@example.org", "Late Applicant")
    again = run(integration, make_client)

    assert (again.pushed, again.errors) == (2, 0)
    for ow in (first, second):
        sync = synced(ow)
        assert sync.status == "pushed" and sync.attempts == 2 and sync.last_error == ""
        assert sync.contact.email == "late@example.org"
    assert Contact.objects.count() == contacts + 1
    assert verify_ledger().ok


def test_client_user__retried_like_the_other_calls_and_a_404_says_so(integration, sandbox, make_client, sleeps):
    sandbox.add_fault("/v2/Users/2", "500")
    sandbox.add_fault("/v2/Users/2", "429", retry_after=1)
    with make_client(integration) as client:
        user = client.user(2)
        with pytest.raises(OpenWaterUserNotFound, match=r"^OpenWater user 77 not found \(GET /v2/Users/77: HTTP 404"):
            client.user(77)
    assert (user["id"], user["firstName"], user["lastName"]) == (2, "Grace", "Hopper")
    assert sandbox.paths["/v2/Users/2"] == 3 and sandbox.paths["/v2/Users/77"] == 1  # a 404 is not retried
    assert len(sleeps) == 2 and sleeps[1] == 1.0


def test_invoice_record__needs_the_user_unless_the_invoice_carries_the_email(integration, ledger):
    """Nothing is written until the user is given; an invoice that does carry an email
    (not in OpenWater's documented shape) is read as it is."""
    known = ContactFactory(email="ada@example.org")
    now = datetime.now(UTC)
    data = {
        "id": 555,
        "programId": AWARDS,
        "programCode": "AWD26",
        "userId": 31,
        "createdAtUtc": now.isoformat(),
        "mostRecentTransactionDateUtc": now.isoformat(),
        "billingLineItems": [{"id": 1, "amount": 10.0, "notes": "Entry", "targetType": "Submission"}],
        "payments": [{"id": 2, "amount": 10.0, "method": "CreditCard", "referenceNumber": "ch_1"}],
        "refunds": [],
    }
    contacts = Contact.objects.count()
    with pytest.raises(UserNeeded) as needed:
        invoice_record(integration=integration, data=data)
    assert needed.value.user_id == 31
    assert not InvoiceSync.objects.exists() and Contact.objects.count() == contacts

    with_email = invoice_record(integration=integration, data={**data, "id": 556, "email": "Ada@Example.org"})
    assert with_email.status == "pushed" and with_email.contact_id == known.pk

    user = {
        "id": 31,
        "email": "someone@else.example",
        "firstName": "Some",
        "lastName": "One",
        "thirdPartyUniqueId": None,
    }
    recorded = invoice_record(integration=integration, data=data, user=user)
    assert recorded.status == "pushed" and recorded.contact_created and recorded.contact.name == "Some One"
    assert verify_ledger().ok
