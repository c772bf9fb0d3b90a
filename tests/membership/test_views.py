"""Membership pages: access levels, the renewal wizard through the views, dues import."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import Module
from finance.membership.models import DuesImport, RenewalRun, Subscription
from finance.models import Batch, Invoice
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db
D = Decimal
DEC31 = datetime.date(2025, 12, 31)


def test_pages_need_membership_level_2_and_actions_level_4(client, staff_user, grant, member_types):
    client.force_login(staff_user)  # AR/Cash 2, no Membership level
    assert client.get(reverse("membership:home")).status_code == 403
    grant(staff_user, Module.MEMBERSHIP, 2)
    page = client.get(reverse("membership:home"))
    assert page.status_code == 200
    assert b"New renewal run" not in page.content
    assert client.get(reverse("membership:run_new")).status_code == 403
    assert client.post(reverse("membership:run_new"), {}).status_code == 403
    assert not RenewalRun.objects.exists()


def test_renewal_wizard__choose_preview_post(
    client, membership_manager, member_types, eager_celery, django_capture_on_commit_callbacks
):
    ann, sub = make_member(member_types["REG"], DEC31, name="Ann Able", sort_name="Able, Ann")
    make_member(member_types["STU"], DEC31, name="Lee Lapsed", status="lapsed")
    client.force_login(membership_manager)

    bad = client.post(
        reverse("membership:run_new"),
        {"paid_through_from": "2025-12-31", "paid_through_to": "2025-01-01", "effective_date": "2026-01-01"},
    )
    assert "Paid through to is before paid through from." in bad.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            reverse("membership:run_new"),
            {"paid_through_from": "2025-01-01", "paid_through_to": "2025-12-31", "effective_date": "2026-01-01"},
        )
    run = RenewalRun.objects.get()
    assert resp.url == reverse("membership:run_detail", args=[run.pk])
    preview = client.get(resp.url).content.decode()
    assert run.status == "creating" or "Ready for review" in preview
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.READY and run.member_count == 1
    assert "Annual dues 2026-01-01–2026-12-31" in preview, preview[preview.find("run-items") :][:3000]
    assert "300.00" in preview
    skipped = client.get(resp.url + "?show=skipped").content.decode()
    assert "Subscription is lapsed" in skipped

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("membership:run_post", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.POSTED
    assert run.batch.status == Batch.Status.POSTED
    inv = Invoice.objects.get(bill_to=ann)
    assert inv.number in client.get(reverse("membership:run_detail", args=[run.pk])).content.decode()
    contact_page = client.get(reverse("membership:member_detail", args=[ann.pk])).content.decode()
    assert inv.number in contact_page and "2026-12-31" in contact_page


def test_delete_run_from_the_page(client, membership_manager, member_types):
    from finance.membership.renewals import renewal_run_build, renewal_run_start

    make_member(member_types["REG"], DEC31)
    run = renewal_run_build(
        run=renewal_run_start(
            effective_date=datetime.date(2026, 1, 1),
            paid_through_from=datetime.date(2025, 1, 1),
            paid_through_to=DEC31,
        )
    )
    client.force_login(membership_manager)
    client.post(reverse("membership:run_delete", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == "deleted" and run.batch.status == "deleted"
    assert not Invoice.objects.exists()


def test_bill_next_term_from_the_contact_page(client, membership_manager, member_types, batch):
    person, sub = make_member(member_types["STU"], DEC31)
    client.force_login(membership_manager)
    client.post(reverse("membership:bill_next_term", args=[sub.pk]), {"batch": batch.pk, "invoice_date": "2026-01-15"})
    inv = Invoice.objects.get(bill_to=person)
    assert inv.total == D("50.00")
    page = client.get(reverse("membership:member_detail", args=[person.pk])).content.decode()
    assert f"Invoice {inv.number} for 2026-01-01–2026-12-31" in page


def _csv(text: str):
    return SimpleUploadedFile("dues.csv", text.encode(), content_type="text/csv")


def test_dues_import__bad_rows_named_and_nothing_created(client, membership_manager, member_types, ledger):
    person, _ = make_member(member_types["REG"], DEC31, party_id="40001")
    two, _ = make_member(member_types["REG"], DEC31, party_id="40002")
    Subscription.objects.create(contact=two, member_type=member_types["STU"], join_date=DEC31, paid_through=DEC31)
    client.force_login(membership_manager)
    text = (
        "party_id,member_type,term_begin,term_end,amount,payment_method,payment_reference\n"
        "40001,REG,2026-01-01,2025-12-31,250.00,,\n"
        "40002,REG,2026-01-01,2026-12-31,250.00,,\n"
        "40001,GOLD,2026-01-01,2026-12-31,250.00,,\n"
        "99999,REG,2026-01-01,2026-12-31,12.345,BITCOIN,\n"
    )
    resp = client.post(reverse("membership:dues_upload"), {"file": _csv(text), "invoice_date": "2026-01-02"})
    imp = DuesImport.objects.get()
    assert imp.status == "invalid" and imp.error_count == 4
    page = client.get(resp.url).content.decode()
    for message in [
        "Line 2, term_end: the term ends (2025-12-31) before it begins (2026-01-01).",
        "Line 3, party_id: member 40002 has 2 active subscriptions (REG, STU); expected exactly one.",
        "Line 4, member_type: unknown member type &#x27;GOLD&#x27;.",
        "Line 5, party_id: no member with id &#x27;99999&#x27;.",
        "Line 5, amount: &#x27;12.345&#x27; is not an amount.",
        "Line 5, payment_method: unknown payment method &#x27;BITCOIN&#x27;.",
    ]:
        assert message in page
    client.post(reverse("membership:dues_create", args=[imp.pk]))
    assert not Invoice.objects.exists() and not Batch.objects.exclude(number__startswith="B").exists()


def test_dues_import__creates_invoices_and_payments_in_a_reviewable_batch(
    client, membership_manager, member_types, ledger
):
    a, _ = make_member(member_types["REG"], DEC31, party_id="40001")
    b, _ = make_member(member_types["STU"], DEC31, party_id="40003")
    client.force_login(membership_manager)
    text = (
        "party_id,member_type,term_begin,term_end,amount,payment_method,payment_reference\n"
        "40001,REG,2026-01-01,2026-12-31,240.00,CHECK,4711\n"
        "40003,stu,2026-01-01,2026-06-30,25.00,,\n"
    )
    client.post(reverse("membership:dues_upload"), {"file": _csv(text), "invoice_date": "2026-01-02"})
    imp = DuesImport.objects.get()
    assert imp.status == "validated", list(imp.rows.values_list("errors", flat=True))
    client.post(reverse("membership:dues_create", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == "created" and imp.batch.status == Batch.Status.OPEN
    inv_a = Invoice.objects.get(bill_to=a)
    assert (inv_a.total, inv_a.balance) == (D("290.00"), D("0.00"))  # fee 240 + chapter 30 + journal 20, paid
    assert inv_a.lines.get(line_number=1).amount == D("240.00")
    inv_b = Invoice.objects.get(bill_to=b)
    assert (inv_b.total, inv_b.balance) == (D("25.00"), D("25.00"))
    assert inv_b.lines.get().billing_end == datetime.date(2026, 6, 30)
    # The batch's controls match: staff can post it as it is.
    assert (imp.batch.control_count, imp.batch.control_amount) == (3, D("290.00"))
    # The same file again is refused.
    client.post(reverse("membership:dues_upload"), {"file": _csv(text), "invoice_date": "2026-01-02"})
    again = DuesImport.objects.order_by("-pk").first()
    assert again.status == "invalid"
    assert "File: this file was imported before." in again.rows.get(line_number=0).errors


def test_progress_panel__polls_while_posting_and_refreshes_when_done(client, membership_manager, member_types):
    from finance.membership.renewals import renewal_run_build, renewal_run_post, renewal_run_start

    make_member(member_types["REG"], DEC31)
    run = renewal_run_build(
        run=renewal_run_start(
            effective_date=datetime.date(2026, 1, 1), paid_through_from=datetime.date(2025, 1, 1), paid_through_to=DEC31
        )
    )
    client.force_login(membership_manager)
    RenewalRun.objects.filter(pk=run.pk).update(status=RenewalRun.Status.POSTING, progress=55)
    panel = client.get(reverse("membership:run_progress", args=[run.pk]))
    assert 'aria-valuenow="55"' in panel.content.decode() and "HX-Refresh" not in panel
    assert "every 1s" in panel.content.decode()
    RenewalRun.objects.filter(pk=run.pk).update(status=RenewalRun.Status.READY, progress=0)
    queued = client.get(reverse("membership:run_progress", args=[run.pk]) + "?queued=1")
    assert "HX-Refresh" not in queued  # posted from the page, the worker has not started yet
    renewal_run_post(run=run)
    done = client.get(reverse("membership:run_progress", args=[run.pk]) + "?queued=1")
    assert done["HX-Refresh"] == "true"


def test_posting_and_deleting_need_membership_level_4(client, staff_user, grant, member_types):
    from finance.membership.renewals import renewal_run_build, renewal_run_start

    make_member(member_types["REG"], DEC31)
    run = renewal_run_build(
        run=renewal_run_start(
            effective_date=datetime.date(2026, 1, 1), paid_through_from=datetime.date(2025, 1, 1), paid_through_to=DEC31
        )
    )
    grant(staff_user, Module.MEMBERSHIP, 3)
    client.force_login(staff_user)
    page = client.get(reverse("membership:run_detail", args=[run.pk])).content.decode()
    assert "Post 1 invoice" not in page and "Delete run" not in page
    assert client.post(reverse("membership:run_post", args=[run.pk])).status_code == 403
    assert client.post(reverse("membership:run_delete", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.READY
