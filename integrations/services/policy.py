"""Payment handling modes as a retry policy: how many charge attempts an invoice gets,
whether a job may charge it now, and when the next attempt is due.

=========================  =====================================================
Default                    card: the account's limit (3), ACH: 1
Hold for dispute           stopped: no request, no charge, no retry
Manual review required     stopped: no request, no charge, no retry
Skip autopay               autopay never charges it (payment request still made)
One time retry             2 attempts (one more after a failure)
Override retry limit       card: no limit, capped exponential backoff with jitter;
                           ACH: 1
Skip after 1st failure     1 attempt
=========================  =====================================================

Backoff after the n-th failure: ``min(cap, base × 2^(n-1))`` scaled by a random factor
in [0.5, 1] (jitter), with base ``INVOICE_SYNC_RETRY_BASE_SECONDS`` (3600) and cap
``INVOICE_SYNC_RETRY_CAP_SECONDS`` (86400). Retries are rows and timestamps in the
database (``next_attempt_at``), picked up by the periodic job, never long task delays.
"""

import datetime
import random

from django.conf import settings

from finance.models import PaymentHandlingMode as Mode

STOPPED = (Mode.HOLD_FOR_DISPUTE, Mode.MANUAL_REVIEW)
CARD = "card"
ACH = "ach"


def attempt_limit(mode: str, method: str, card_limit: int = 3) -> int | None:
    """Charge attempts allowed for an invoice; None = no limit."""
    if mode in STOPPED:
        return 0
    if mode == Mode.ONE_TIME_RETRY:
        return 2
    if mode == Mode.SKIP_AFTER_FIRST_FAILURE:
        return 1
    if method == ACH:
        return 1
    if mode == Mode.OVERRIDE_RETRY_LIMIT:
        return None
    return card_limit


def may_charge(*, mode: str, trigger: str, method: str, attempts_made: int, card_limit: int = 3) -> tuple[bool, str]:
    """Whether a job may charge the invoice now, and why not."""
    if mode in STOPPED:
        return False, f"handling mode is {Mode(mode).label}"
    if trigger == "autopay" and mode == Mode.SKIP_AUTOPAY:
        return False, "handling mode is Skip autopay"
    limit = attempt_limit(mode, method, card_limit)
    if limit is not None and attempts_made >= limit:
        return False, f"attempt limit reached ({attempts_made} of {limit})"
    return True, ""


def retry_delay(failures: int, *, rng: random.Random | None = None) -> datetime.timedelta:
    base = float(getattr(settings, "INVOICE_SYNC_RETRY_BASE_SECONDS", 3600))
    cap = float(getattr(settings, "INVOICE_SYNC_RETRY_CAP_SECONDS", 86400))
    raw = min(cap, base * (2 ** max(0, failures - 1)))
    factor = 0.5 + 0.5 * (rng or random).random()
    return datetime.timedelta(seconds=raw * factor)


def next_attempt_after_failure(
    *, mode: str, method: str, attempts_made: int, failures: int, now: datetime.datetime, card_limit: int = 3
) -> datetime.datetime | None:
    """When the next attempt is due after a failed one; None when no attempt is left."""
    allowed, _ = may_charge(
        mode=mode, trigger="retry", method=method, attempts_made=attempts_made, card_limit=card_limit
    )
    if not allowed:
        return None
    return now + retry_delay(failures)
