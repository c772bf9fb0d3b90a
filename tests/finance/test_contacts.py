import pytest
from django.db import transaction

from finance.models import NumberSequence
from finance.services.contacts import next_party_id
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_next_party_id__starts_after_the_highest_numeric_id_and_advances():
    ContactFactory(party_id="23456")
    ContactFactory(party_id="981")
    with transaction.atomic():
        first, second = next_party_id(), next_party_id()
    assert (first, second) == ("23457", "23458")
    assert NumberSequence.objects.get(name="party_id").next_value == 23459


def test_next_party_id__steps_over_a_number_already_taken():
    with transaction.atomic():
        first = next_party_id()
    ContactFactory(party_id=str(int(first) + 1))  # a contact made with its own id
    with transaction.atomic():
        assert next_party_id() == str(int(first) + 2)


def test_next_party_id__a_rolled_back_transaction_gives_its_number_back():
    ContactFactory(party_id="500")
    with pytest.raises(RuntimeError), transaction.atomic():
        next_party_id()
        raise RuntimeError("rolled back")
    with transaction.atomic():
        assert next_party_id() == "501"
