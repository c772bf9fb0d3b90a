"""Each staff user's current batch, as in iMIS.

Chosen once (in the header, or when a batch is opened), it takes the user's entries and
adjustments unless another open batch is picked in the form; no batch is opened on the
side for a single transaction.
"""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Module
from finance.errors import BatchClosed, NoCurrentBatch
from finance.models import Batch, CurrentBatch, Invoice, Payment, Refund
from finance.selectors import current_batch_of
from finance.services.batches import batch_transition, current_batch_set, entry_batch
from finance.services.credits import refund_finish, refund_start
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import card_method, make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 1, 15)


def post(batch: Batch) -> None:
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.POSTED, posted_at=timezone.now())
    batch.refresh_from_db()


# --- The current batch ----------------------------------------------------------------


def test_current_batch_set__only_an_open_batch_and_one_per_user(staff_user):
    first, second = BatchFactory(), BatchFactory()
    assert current_batch_of(staff_user) is None
    current_batch_set(user=staff_user, batch=first)
    current_batch_set(user=staff_user, batch=second)
    assert current_batch_of(staff_user) == second
    assert CurrentBatch.objects.filter(user=staff_user).count() == 1
    ready = BatchFactory(status=Batch.Status.READY)
    with pytest.raises(BatchClosed, match="takes no transactions"):
        current_batch_set(user=staff_user, batch=ready)
    assert current_batch_of(staff_user) == second


def test_entry_batch__picked_then_current_else_refused(staff_user):
    picked, current = BatchFactory(), BatchFactory(number="CUR-9")
    with pytest.raises(NoCurrentBatch, match="no current batch"):
        entry_batch(user=staff_user)
    current_batch_set(user=staff_user, batch=current)
    assert entry_batch(user=staff_user) == current
    assert entry_batch(user=staff_user, batch=picked) == picked
    post(current)
    with pytest.raises(NoCurrentBatch, match="current batch CUR-9 is posted"):
        entry_batch(user=staff_user)
    assert current_batch_of(staff_user) == current  # kept, so the header can say so


# --- Late processor refunds -------------------------------------------------------------


def test_refund_finish__a_closed_batch_posts_into_the_starters_current_batch(ledger, manager_user):
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=payer, method=card_method(ledger), amount="40", date=DAY, batch=batch)
    Payment.objects.filter(pk=payment.pk).update(processor_charge_id="ch_2")
    payment.refresh_from_db()
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    started_in = BatchFactory()
    refund = refund_start(payment=payment, credit_invoice=credit, batch=started_in, date=DAY, user=manager_user)
    current = BatchFactory(number="MINE-1")
    current_batch_set(user=manager_user, batch=current)
    batch_transition(batch=started_in, to_status=Batch.Status.READY)  # closed while the processor answers
    before = Batch.objects.count()
    refund = refund_finish(refund=refund, succeeded=True, processor_refund_id="re_2")
    assert refund.status == Refund.Status.SUCCEEDED and refund.batch == current
    assert Batch.objects.count() == before


def test_refund_finish__without_a_current_batch_late_refunds_share_one_batch_a_day(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    refunds = []
    for charge in ("ch_a", "ch_b"):
        payment = payment_receive(payer=payer, method=card_method(ledger), amount="10", date=DAY, batch=batch)
        Payment.objects.filter(pk=payment.pk).update(processor_charge_id=charge)
        payment.refresh_from_db()
        credit = Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=payment)
        refunds.append(refund_start(payment=payment, credit_invoice=credit, batch=batch, date=DAY))
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    first = refund_finish(refund=refunds[0], succeeded=True)
    second = refund_finish(refund=refunds[1], succeeded=True)
    assert first.batch == second.batch != batch
    assert first.batch.description == "Processor refunds" and first.batch.status == Batch.Status.OPEN


# --- The staff UI -----------------------------------------------------------------------


@pytest.fixture
def clerk(client, staff_user):
    client.force_login(staff_user)
    return client


def test_header__shows_the_current_batch_or_asks_for_one(clerk, staff_user):
    def header():
        html = clerk.get(reverse("finance:dashboard")).content.decode()
        menu = html.split('data-testid="current-batch-menu"', 1)[1].split("</nav>", 1)[0]
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", menu))

    assert "No current batch: choose one" in header()
    batch = BatchFactory(number="260115-7", description="Front desk")
    current_batch_set(user=staff_user, batch=batch)
    text = header()
    assert "Batch 260115-7" in text and "Front desk" in text and "choose another" not in text
    post(batch)
    text = header()
    assert "Batch 260115-7 is posted: choose another" in text
    assert "takes no more transactions" in text


def test_header__not_shown_to_viewers(client, django_user_model, grant):
    viewer = grant(django_user_model.objects.create_user("viewer", password="x"), Module.AR_CASH, 1)
    client.force_login(viewer)
    assert 'data-testid="current-batch"' not in client.get(reverse("finance:dashboard")).content.decode()
    assert client.post(reverse("finance:current_batch_set"), {"batch": BatchFactory().pk}).status_code == 403
    assert client.get(reverse("finance:current_batch_choices")).status_code == 403
    assert not CurrentBatch.objects.exists()


def test_choose_current_batch__open_batches_offered_and_chosen(clerk, staff_user):
    open_batch = BatchFactory(number="OPEN-1")
    ready = BatchFactory(number="READY-1", status=Batch.Status.READY)
    choices = clerk.get(reverse("finance:current_batch_choices"), {"next": "/payments/"}).content.decode()
    assert f'value="{open_batch.pk}"' in choices and f'value="{ready.pk}"' not in choices
    assert 'name="next" value="/payments/"' in choices
    response = clerk.post(reverse("finance:current_batch_set"), {"batch": open_batch.pk, "next": "/payments/"})
    assert response.status_code == 302 and response["Location"] == "/payments/"
    assert current_batch_of(staff_user) == open_batch
    # A batch that is not open is refused; an outside address is not followed.
    response = clerk.post(
        reverse("finance:current_batch_set"), {"batch": ready.pk, "next": "https://evil.example/"}, follow=True
    )
    assert "READY-1 is Ready; it takes no transactions." in response.content.decode()
    assert response.redirect_chain[0][0] == reverse("finance:batch_detail", args=[ready.pk])
    assert current_batch_of(staff_user) == open_batch


def test_new_batch__becomes_the_current_batch(clerk, staff_user):
    response = clerk.post(
        reverse("finance:batch_create"), {"date": "2026-01-15", "description": "Mail", "make_current": "on"}
    )
    batch = Batch.objects.get(description="Mail")
    assert response["Location"] == reverse("finance:batch_detail", args=[batch.pk])
    assert current_batch_of(staff_user) == batch
    clerk.post(reverse("finance:batch_create"), {"date": "2026-01-15", "description": "Other"})
    assert current_batch_of(staff_user) == batch  # unticked: the current batch stays


def test_entry_page__preselects_the_batch_it_was_opened_from(clerk, staff_user, ledger):
    current, other = BatchFactory(number="CUR-1"), BatchFactory(number="OTHER-1")
    current_batch_set(user=staff_user, batch=current)
    html = clerk.get(reverse("finance:payment_new")).content.decode()
    assert "My current batch: CUR-1" in html and f'<option value="{other.pk}" selected' not in html
    html = clerk.get(reverse("finance:payment_new"), {"batch": other.pk}).content.decode()
    assert f'<option value="{other.pk}" selected' in html


def test_unapply__goes_into_the_current_batch(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    make_invoice(ledger, payer, batch, "80")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="80", date=DAY, batch=batch)
    current = BatchFactory(number="ADJ-2")
    current_batch_set(user=manager_user, batch=current)
    client.post(reverse("finance:payment_unapply", args=[payment.pk]), {"date": DAY.isoformat(), "batch": ""})
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert credit.batch == current
