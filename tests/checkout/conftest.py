import pytest

from tests.checkout.helpers import add_opencredit


@pytest.fixture
def opencredit(ledger):
    return add_opencredit("Staff")
