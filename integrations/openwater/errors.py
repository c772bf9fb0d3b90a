"""Errors of the OpenWater pushback (the messages are for finance staff)."""


class PushbackError(Exception):
    """A rule of the pushback refused the action; the message is for staff."""


class InvoiceDataError(PushbackError):
    """An OpenWater invoice that cannot be recorded as it is (totals, amounts, fields)."""


class UserNeeded(Exception):
    """``invoice_record`` needs the invoice's OpenWater user to find the payer: the
    caller fetches it (outside the transaction, which is rolled back: nothing was
    written) and calls again with it."""

    def __init__(self, user_id: int):
        super().__init__(f"OpenWater user {user_id} is needed to find the payer")
        self.user_id = user_id
