"""Finding contacts, invoices and payments: the selectors, the finder field, the pages."""

import datetime
import re
from decimal import Decimal

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import Module
from finance.forms import ContactField
from finance.models import Contact
from finance.search import contact_from_text, contact_search, invoices_by_number, payments_by_id_or_reference
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, CompanyFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 1, 10)


@pytest.fixture
def people():
    harbor = CompanyFactory(name="Harbor Point Credit Union", sort_name="Harbor Point Credit Union", party_id="23456")
    return {
        "harbor": harbor,
        "kenneth": ContactFactory(
            name="Kenneth Fischer", sort_name="Fischer, Kenneth", party_id="27158", email="kfischer@example.com"
        ),
        "brian": ContactFactory(
            name="Brian Fischer",
            sort_name="Fischer, Brian",
            party_id="25206",
            email="bf@harbor.example",
            company=harbor,
        ),
        "olga": ContactFactory(
            name="Olga Novak", sort_name="Novak, Olga", party_id="27103", email="olga@harbor.example", company=harbor
        ),
        "keys": ContactFactory(
            name="Ken Keyes", sort_name="Keyes, Ken", party_id="31000", email="kk@mail.example", major_key="KK700"
        ),
    }


def names(contacts):
    return [c.name for c in contacts]


def test_contact_search__by_the_start_of_a_last_name_any_case(people):
    assert names(contact_search("fisch")) == ["Brian Fischer", "Kenneth Fischer"]
    assert names(contact_search("FISCHER, K")) == ["Kenneth Fischer"]


def test_contact_search__by_the_start_of_a_first_name_and_a_second_word_narrows(people):
    assert names(contact_search("ken")) == ["Kenneth Fischer", "Ken Keyes"]  # by sort name
    assert names(contact_search("ken fis")) == ["Kenneth Fischer"]
    assert names(contact_search("kenneth fischer")) == ["Kenneth Fischer"]


def test_contact_search__by_email_party_id_and_major_key(people):
    assert names(contact_search("kfisch")) == ["Kenneth Fischer"]
    assert names(contact_search("27158")) == ["Kenneth Fischer"]
    # Digits are the start of a party id, in party id order.
    assert names(contact_search("271")) == ["Olga Novak", "Kenneth Fischer"]
    assert names(contact_search("kk700")) == ["Ken Keyes"]


def test_contact_search__a_company_name_finds_the_company_and_its_members(people):
    assert names(contact_search("harbor")) == ["Brian Fischer", "Harbor Point Credit Union", "Olga Novak"]
    assert names(contact_search("harbor novak")) == ["Olga Novak"]


def test_contact_search__the_finder_label_limits_and_too_little_text(people):
    assert names(contact_search("Kenneth Fischer (27158)")) == ["Kenneth Fischer"]
    for n in range(15):
        ContactFactory(name=f"Fisher {n:02d}", sort_name=f"Fisher {n:02d}")
    assert len(contact_search("fish")) == 10
    assert len(contact_search("fish", limit=3)) == 3
    assert contact_search("f") == []
    assert contact_search("   ") == []
    assert contact_search("zzz") == []


def test_contact_search__text_with_like_wildcards_is_literal(people):
    assert contact_search("%") == []
    assert contact_search("_en") == []


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_contact_search__looks_contacts_up_in_the_indexes(people):
    """Among 20,000 contacts (planner statistics taken), every query of a search is an
    index lookup: no query reads the whole contact table."""
    Contact.objects.bulk_create(
        Contact(party_id=str(100000 + n), name=f"Member {n:05d}", sort_name=f"Member {n:05d}", email=f"m{n}@x.example")
        for n in range(20000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE finance_contact")
    used = set()
    for query in ("fisch", "ken fis", "271", "harbor", "kfisch", "kk700"):
        with CaptureQueriesContext(connection) as captured:
            assert contact_search(query)
        for sql in (q["sql"] for q in captured.captured_queries):
            plan = explain(sql)
            assert "Seq Scan" not in plan, plan
            used |= {
                a or b for a, b in re.findall(r"Index (?:Only )?Scan using (\w+)|Bitmap Index Scan on (\w+)", plan)
            }
    assert {"contact_name_prefix", "contact_sort_name_prefix", "contact_email_prefix"} <= used, used
    assert any("party_id" in name for name in used), used  # the unique index of the party ids


def test_contact_from_text__party_id_or_finder_label(people):
    assert contact_from_text("27158") == people["kenneth"]
    assert contact_from_text("Kenneth Fischer (27158)") == people["kenneth"]
    assert contact_from_text("Kenneth Fischer") is None
    assert contact_from_text("99999") is None


def test_invoices_and_payments_by_number_id_or_reference(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, payer, batch, "100")
    first = payment_receive(
        payer=payer, method=ledger.check_method, amount="60.00", date=DAY, batch=batch, reference="CHK-501"
    )
    second = payment_receive(
        payer=payer, method=ledger.check_method, amount="40.00", date=DAY, batch=batch, reference="CHK-501"
    )
    assert invoices_by_number(invoice.number) == [invoice]
    assert invoices_by_number(f"#{invoice.number}") == [invoice]
    assert invoices_by_number("no-such") == []
    assert payments_by_id_or_reference("CHK-501") == [second, first]
    assert payments_by_id_or_reference(str(first.pk)) == [first]
    assert payments_by_id_or_reference("CHK-5") == []


class FinderForm(forms.Form):
    contact = ContactField()


def test_contact_field__the_picked_party_id_or_what_was_typed(people):
    picked = FinderForm({"contact": "27158", "contact_search": "Kenneth Fischer (27158)"})
    assert picked.is_valid() and picked.cleaned_data["contact"] == people["kenneth"]
    typed = FinderForm({"contact": "", "contact_search": "27158"})
    assert typed.is_valid() and typed.cleaned_data["contact"] == people["kenneth"]
    label = FinderForm({"contact_search": "Kenneth Fischer (27158)"})
    assert label.is_valid() and label.cleaned_data["contact"] == people["kenneth"]


def test_contact_field__errors_name_what_is_wrong(people):
    cases = {
        "": "Choose a contact: type part of a name, email, party id or company and pick one.",
        "99999": "No contact with party id 99999.",
        "fisch": "Pick the contact from the list of matches for “fisch”.",
        "zzz": "No contact matches “zzz”.",
    }
    for typed, error in cases.items():
        form = FinderForm({"contact": "", "contact_search": typed})
        assert not form.is_valid()
        assert form.errors["contact"] == [error]


def test_contact_field__renders_the_picked_contact(people):
    html = FinderForm(initial={"contact": people["brian"]}).as_p()
    assert 'name="contact" value="25206"' in html
    assert 'value="Brian Fischer (25206)"' in html
    assert "member of Harbor Point Credit Union" in html
    assert f'hx-get="{reverse("finance:contact_find")}"' in html
    bound = FinderForm({"contact": "", "contact_search": "fisch"})
    bound.is_valid()
    html = bound.as_p()
    assert 'value="fisch"' in html and "is-invalid" in html


# --- pages -------------------------------------------------------------------------


def test_contact_find__options_for_entry_clerks_and_order_takers(client, django_user_model, grant, people):
    url = reverse("finance:contact_find")
    order_taker = grant(django_user_model.objects.create_user("orders"), Module.ORDERS, 2)
    client.force_login(order_taker)
    page = client.get(url, {"q": "fisch"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('role="option"') == 2
    assert 'data-value="27158" data-label="Kenneth Fischer (27158)"' in html
    assert "No contact matches" in client.get(url, {"q": "zzz"}).content.decode()
    assert client.get(url, {"q": ""}).content.decode().strip() == ""

    nobody = django_user_model.objects.create_user("nobody")
    client.force_login(nobody)
    assert client.get(url, {"q": "fisch"}).status_code == 403


def test_search__one_match_goes_there_several_are_listed(client, staff_user, ledger, people):
    client.force_login(staff_user)
    url = reverse("finance:search")
    kenneth = people["kenneth"]
    # A party id names one contact whatever else the database holds.
    assert client.get(url, {"q": "27158"})["Location"] == reverse("finance:contact_detail", args=[kenneth.pk])
    invoice = make_invoice(ledger, kenneth, BatchFactory(), "100")
    assert client.get(url, {"q": invoice.number})["Location"] == reverse("finance:invoice_detail", args=[invoice.pk])
    page = client.get(url, {"q": "fisch"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Kenneth Fischer" in html and "Brian Fischer" in html
    assert "Nothing found for “zzz”" in client.get(url, {"q": "zzz"}).content.decode()


def test_search_suggest__links_to_what_matches(client, staff_user, ledger, people):
    client.force_login(staff_user)
    payment = payment_receive(
        payer=people["olga"], method=ledger.check_method, amount="25.00", date=DAY, batch=BatchFactory(), reference="77"
    )
    html = client.get(reverse("finance:search_suggest"), {"q": "77"}, headers={"HX-Request": "true"}).content.decode()
    assert reverse("finance:payment_detail", args=[payment.pk]) in html
    assert "Payment" in html and "25.00" in html
    html = client.get(reverse("finance:search_suggest"), {"q": "harbor"}).content.decode()
    assert re.findall(r'href="/contacts/(\d+)/"', html) == [str(people[k].pk) for k in ("brian", "harbor", "olga")]


def test_search_pages_need_ar_cash_1(client, django_user_model, grant, people):
    order_taker = grant(django_user_model.objects.create_user("orders"), Module.ORDERS, 4)
    client.force_login(order_taker)
    assert client.get(reverse("finance:search"), {"q": "fisch"}).status_code == 403
    assert client.get(reverse("finance:search_suggest"), {"q": "fisch"}).status_code == 403
    # The header shows no search box to them; the contact finder still answers.
    assert "data-header-search" not in client.get(reverse("cart:home")).content.decode()
    assert client.get(reverse("finance:contact_find"), {"q": "fisch"}).status_code == 200


def test_header_search_box_is_on_finance_pages(client, staff_user):
    client.force_login(staff_user)
    html = client.get(reverse("finance:dashboard")).content.decode()
    assert "data-header-search" in html and reverse("finance:search_suggest") in html


def test_receive_payment__the_payer_is_asked_once_and_picking_loads_the_open_lines(client, staff_user, ledger, people):
    client.force_login(staff_user)
    kenneth = people["kenneth"]
    invoice = make_invoice(ledger, kenneth, BatchFactory(), "100")
    page = client.get(reverse("finance:payment_new")).content.decode()
    assert page.count("data-finder-input") == 2  # the payer's finder and the header's search box
    assert 'name="contact"' not in page
    lines = client.get(
        reverse("finance:payment_new"), {"payer": "27158"}, headers={"HX-Request": "true", "HX-Target": "open-lines"}
    )
    html = lines.content.decode()
    assert html.lstrip().startswith('<div class="card" id="open-lines"')
    assert invoice.number in html and "Kenneth Fischer" in html


def test_receive_payment__typed_but_not_picked_is_refused(client, staff_user, ledger, people):
    client.force_login(staff_user)
    data = {
        "payer": "",
        "payer_search": "fisch",
        "entity": ledger.entity.pk,
        "method": ledger.check_method.pk,
        "amount": "10.00",
        "date": DAY.isoformat(),
        "batch": BatchFactory().pk,
        "apply_to": "auto",
    }
    page = client.post(reverse("finance:payment_new"), data)
    assert page.status_code == 200
    assert "Pick the contact from the list of matches for “fisch”." in page.content.decode()
    data.update(payer="27158", payer_search="Kenneth Fischer (27158)")
    assert client.post(reverse("finance:payment_new"), data).status_code == 302
    assert Contact.objects.get(payments__amount=Decimal("10.00")) == people["kenneth"]
