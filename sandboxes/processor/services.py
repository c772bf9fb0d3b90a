"""State changes of the sandbox processor: charges, refunds, settlement, idempotency,
payment requests and the customer paying them.

Each public function is one transaction. Amounts are integer minor units, as on the
wire. Errors are ``SandboxApiError`` carrying the HTTP status and the error body.
"""

import datetime
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from processors.money import currency_exponent, from_minor_units
from sandboxes.processor.models import (
    SandboxCharge,
    SandboxCustomer,
    SandboxIdempotencyRecord,
    SandboxPaymentMethod,
    SandboxPaymentRequest,
    SandboxRefund,
)
from sandboxes.processor.tokens import TOKENS

MAX_AMOUNT = 99_999_999  # minor units, as real processors cap a single charge
REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")


class SandboxApiError(Exception):
    def __init__(self, status: int, type_: str, code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message, **extra}}


def invalid(code: str, message: str, param: str = "") -> SandboxApiError:
    extra = {"param": param} if param else {}
    return SandboxApiError(400, "invalid_request_error", code, message, **extra)


@dataclass
class ApiResult:
    status: int
    body: dict
    # Answer only after this many seconds (tok_timeout), once everything is committed.
    delay_seconds: float = 0
    # Keep the answer for the idempotency key (an object was created).
    store: bool = True
    headers: dict = field(default_factory=dict)


def account_for_key(api_key: str) -> str:
    """Each API key is its own sandbox account; only a fingerprint is stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _money(units: int, currency: str) -> str:
    return f"{from_minor_units(units, currency)} {currency}"


# --- serialisation ----------------------------------------------------------------


def charge_body(charge: SandboxCharge) -> dict:
    body = {
        "id": charge.public_id,
        "object": "charge",
        "amount": charge.amount,
        "amount_refunded": charge.amount_refunded,
        "currency": charge.currency,
        "status": charge.status,
        "refunded": charge.amount_refunded == charge.amount,
        "disputed": charge.disputed,
        "source": charge.source,
        "payment_method_type": charge.payment_method_type,
        "customer": charge.customer,
        "description": charge.description,
        "metadata": charge.metadata,
        "failure_code": charge.failure_code or None,
        "failure_message": charge.failure_message or None,
        "idempotency_key": charge.idempotency_key,
        "created": int(charge.created_at.timestamp()),
    }
    if charge.status == SandboxCharge.Status.REQUIRES_ACTION:
        body["next_action"] = {"type": "authenticate", "hint": "POST test_helpers/charges/{id}/advance"}
    return body


def refund_body(refund: SandboxRefund) -> dict:
    return {
        "id": refund.public_id,
        "object": "refund",
        "charge": refund.charge.public_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "metadata": refund.metadata,
        "created": int(refund.created_at.timestamp()),
    }


# --- validation --------------------------------------------------------------------


def _amount(payload: dict, name: str = "amount", *, required: bool = True) -> int | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise invalid("parameter_missing", f"Missing required param: {name}.", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(
            "invalid_amount",
            f"{name} must be an integer number of minor units (1999 for 19.99), not {value!r}.",
            name,
        )
    if value <= 0 or value > MAX_AMOUNT:
        raise invalid("invalid_amount", f"{name} must be between 1 and {MAX_AMOUNT} minor units.", name)
    return value


def _currency(payload: dict) -> str:
    value = payload.get("currency")
    if not isinstance(value, str):
        raise invalid("parameter_missing", "Missing required param: currency.", "currency")
    try:
        currency_exponent(value)
    except ValueError:
        raise invalid("invalid_currency", f"Invalid currency: {value!r}.", "currency") from None
    return value.upper()


def _string(payload: dict, name: str, max_length: int) -> str:
    value = payload.get(name) or ""
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid("invalid_string", f"{name} must be a string of at most {max_length} characters.", name)
    return value


def _metadata(payload: dict) -> dict:
    value = payload.get("metadata") or {}
    if (
        not isinstance(value, dict)
        or len(value) > 50
        or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 500 for k, v in value.items())
    ):
        raise invalid("invalid_metadata", "metadata must map at most 50 string keys to strings.", "metadata")
    return value


# --- idempotency -------------------------------------------------------------------


def request_hash(method: str, path: str, payload: dict) -> str:
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(
    *, account: str, key: str, method: str, path: str, payload: dict, handler: Callable[[], ApiResult]
) -> ApiResult:
    """Run ``handler`` once per (account, key); replay its stored answer afterwards.

    The same key with another method, path or body answers 409. Answers are stored
    (in the handler's transaction) only when the handler created something; a refused
    request (400) or a server error (500) stores nothing and may be sent again.
    Two concurrent requests with one key: the second waits on the unique key, then
    replays the first's answer.
    """
    digest = request_hash(method, path, payload)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                record = SandboxIdempotencyRecord.objects.filter(account=account, key=key).first()
                if record is not None:
                    if record.request_hash != digest:
                        raise SandboxApiError(
                            409,
                            "idempotency_error",
                            "idempotency_key_in_use",
                            f"Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than {key!r} if you meant to execute a "
                            f"different request.",
                        )
                    return ApiResult(
                        record.response_status, record.response_body, headers={"Idempotent-Replayed": "true"}
                    )
                result = handler()
                if result.store and result.status < 500:
                    SandboxIdempotencyRecord.objects.create(
                        account=account,
                        key=key,
                        method=method,
                        path=path,
                        request_hash=digest,
                        response_status=result.status,
                        response_body=result.body,
                    )
                return result
        except IntegrityError:
            continue  # a concurrent request with the same key won; replay its answer
    raise SandboxApiError(409, "idempotency_error", "idempotency_key_in_use", "A request with this key is in progress.")


# --- charges -------------------------------------------------------------------------


def charge_create(*, account: str, idempotency_key: str, payload: dict) -> ApiResult:
    """Create a charge; its outcome is decided by the test token in ``source``.

    With ``setup_future_usage`` (``off_session`` or ``on_session``), a ``customer`` and a
    payment method (``pm_…``) as ``source``, a charge that succeeds keeps the method for
    that customer (as Stripe attaches it). The customer is not checked against the
    account's customers (the sandbox is lenient there)."""
    amount = _amount(payload)
    currency = _currency(payload)
    source = _source(payload, account=account)
    customer = _string(payload, "customer", 200)
    future_usage = _string(payload, "setup_future_usage", 20)
    if future_usage not in ("", "off_session", "on_session"):
        raise invalid(
            "invalid_setup_future_usage", "setup_future_usage is off_session or on_session.", "setup_future_usage"
        )
    if future_usage and not payload["source"].startswith("pm_"):
        raise invalid(
            "setup_future_usage_needs_payment_method",
            "Only a payment method (pm_…) can be kept for later, not a token.",
            "setup_future_usage",
        )
    charge, result = _charge(
        account=account,
        amount=amount,
        currency=currency,
        source=source,
        customer=customer,
        description=_string(payload, "description", 500),
        metadata=_metadata(payload),
        idempotency_key=idempotency_key,
    )
    if future_usage and customer and charge is not None and charge.status == SandboxCharge.Status.SUCCEEDED:
        SandboxPaymentMethod.objects.filter(account=account, public_id=payload["source"], customer="").update(
            customer=customer
        )
    return result


# --- customers ---------------------------------------------------------------------------


def customer_body(customer: SandboxCustomer) -> dict:
    return {
        "id": customer.public_id,
        "object": "customer",
        "name": customer.name,
        "email": customer.email or None,
        "metadata": customer.metadata,
        "created": int(customer.created_at.timestamp()),
    }


def customer_create(*, account: str, idempotency_key: str, payload: dict) -> ApiResult:
    """A customer (``cus_…``) to keep payment methods for: ``{"name", "email",
    "metadata"}``, all optional; idempotent like charges."""
    customer = SandboxCustomer.objects.create(
        public_id=_new_id("cus"),
        account=account,
        name=_string(payload, "name", 200),
        email=_string(payload, "email", 254),
        metadata=_metadata(payload),
        idempotency_key=idempotency_key,
    )
    return ApiResult(200, customer_body(customer))


def _source(payload: dict, account: str = "") -> str:
    """The test token of the charge: ``source`` itself, or the token a payment method
    (``pm_…``, made by the card form in this account) stands for."""
    source = payload.get("source")
    if not isinstance(source, str) or not source:
        raise invalid("parameter_missing", "Missing required param: source.", "source")
    if source.startswith("pm_") and account:
        method = SandboxPaymentMethod.objects.filter(account=account, public_id=source).first()
        if method is None:
            raise invalid("no_such_payment_method", f"No such payment method: {source!r}.", "source")
        source = method.token
    behaviour = TOKENS.get(source)
    if behaviour is None:
        raise invalid("no_such_token", f"No such token: {source!r}; see the sandbox's test tokens.", "source")
    return source


def _charge(
    *,
    account: str,
    amount: int,
    currency: str,
    source: str,
    customer: str,
    description: str,
    metadata: dict,
    idempotency_key: str,
) -> tuple[SandboxCharge | None, ApiResult]:
    """Make a charge with a valid test token (in the caller's transaction): the charge
    (None when the token answers 500 and records nothing) and the answer to give."""
    behaviour = TOKENS[source]
    if behaviour.server_error:
        return None, ApiResult(500, {"error": {"type": "api_error", "code": "", "message": "Sandbox internal error."}})

    settles_at = None
    if (behaviour.settles_to and not behaviour.settles_on_advance_only) or behaviour.disputes:
        settles_at = timezone.now() + datetime.timedelta(seconds=settings.SANDBOX_PROCESSOR_SETTLE_SECONDS)
    declined = behaviour.initial == SandboxCharge.Status.FAILED
    charge = SandboxCharge.objects.create(
        public_id=_new_id("ch"),
        account=account,
        amount=amount,
        currency=currency,
        status=behaviour.initial,
        source=source,
        payment_method_type=behaviour.payment_method_type,
        customer=customer,
        description=description,
        metadata=metadata,
        failure_code=behaviour.failure_code if declined else "",
        failure_message=behaviour.failure_message if declined else "",
        settles_at=settles_at,
        idempotency_key=idempotency_key,
    )
    if declined:
        error = SandboxApiError(
            402,
            "card_error",
            behaviour.failure_code,
            behaviour.failure_message,
            decline_code=behaviour.failure_code,
            charge=charge.public_id,
            charge_object=charge_body(charge),
        )
        return charge, ApiResult(402, error.body)
    delay = settings.SANDBOX_PROCESSOR_TIMEOUT_DELAY if behaviour.delays_response else 0
    return charge, ApiResult(200, charge_body(charge), delay_seconds=delay)


def _settle(charge: SandboxCharge) -> None:
    """Move a locked charge to its final state (or dispute it), per its token; the
    payment request it pays (locked before it, see ``_lock_charge``) follows."""
    behaviour = TOKENS.get(charge.source)
    if behaviour is None:
        return
    fields = ["settles_at", "updated_at"]
    if charge.status in (SandboxCharge.Status.PROCESSING, SandboxCharge.Status.REQUIRES_ACTION):
        if behaviour.settles_to:
            charge.status = behaviour.settles_to
            fields.append("status")
            if charge.status == SandboxCharge.Status.FAILED:
                charge.failure_code = behaviour.failure_code
                charge.failure_message = behaviour.failure_message
                fields += ["failure_code", "failure_message"]
    elif charge.status == SandboxCharge.Status.SUCCEEDED and behaviour.disputes and not charge.disputed:
        charge.disputed = True
        fields.append("disputed")
    charge.settles_at = None
    charge.save(update_fields=fields)
    status = payment_request_status(charge)
    SandboxPaymentRequest.objects.filter(charge=charge).exclude(status=status).update(status=status)


def _get_charge_locked(account: str, charge_id: str) -> SandboxCharge:
    charge = SandboxCharge.objects.select_for_update().filter(account=account, public_id=charge_id).first()
    if charge is None:
        raise SandboxApiError(404, "invalid_request_error", "resource_missing", f"No such charge: {charge_id!r}.")
    return charge


def _lock_charge(account: str, charge_id: str) -> SandboxCharge:
    """Lock a charge to settle or refund it, and first the payment request it pays, if
    any: rows are locked request first, then charge, as paying a request does."""
    request_pk = (
        SandboxPaymentRequest.objects.filter(account=account, charge__public_id=charge_id)
        .values_list("pk", flat=True)
        .first()
    )
    if request_pk is not None:
        SandboxPaymentRequest.objects.select_for_update().get(pk=request_pk)
    return _get_charge_locked(account, charge_id)


def charge_retrieve(*, account: str, charge_id: str) -> SandboxCharge:
    """The charge as of now: a charge whose settle time has passed settles on this read."""
    charge = SandboxCharge.objects.filter(account=account, public_id=charge_id).first()
    if charge is None:
        raise SandboxApiError(404, "invalid_request_error", "resource_missing", f"No such charge: {charge_id!r}.")
    if charge.settles_at is not None and charge.settles_at <= timezone.now():
        with transaction.atomic():
            charge = _lock_charge(account, charge_id)
            if charge.settles_at is not None and charge.settles_at <= timezone.now():
                _settle(charge)
    return charge


def charge_search(*, account: str, idempotency_key: str) -> list[SandboxCharge]:
    """The charge made with ``idempotency_key``, as a search index sees it: a charge
    appears only ``SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS`` after it was made (Stripe's
    Search API is eventually consistent; read-after-write needs the list or the key)."""
    lag = datetime.timedelta(seconds=float(getattr(settings, "SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS", 0)))
    charge = SandboxCharge.objects.filter(
        account=account, idempotency_key=idempotency_key, created_at__lte=timezone.now() - lag
    ).first()
    return [charge_retrieve(account=account, charge_id=charge.public_id)] if charge else []


LIST_LIMIT = 100
_CREATED_FILTERS = ("created[gte]", "created[gt]", "created[lte]", "created[lt]")
_LIST_PARAMS = ("customer", "limit", "starting_after", *_CREATED_FILTERS)


def _unix_time(params, name: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromtimestamp(int(params[name]), tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise invalid("invalid_integer", f"{name} must be a Unix time in whole seconds.", name) from None


def charge_list(*, account: str, params, path: str = "") -> dict:
    """The account's charges, newest first (as Stripe's list endpoints): filtered by
    ``customer`` and by ``created[gte|gt|lte|lt]`` (Unix seconds, compared with the
    ``created`` each charge shows), at most ``limit`` (1–100, default 10) after the
    charge ``starting_after``; ``has_more`` says whether another page follows. Read
    from the charges themselves, so a charge is listed as soon as it exists. Charges
    whose settle time has passed settle on this read."""
    unknown = sorted(set(params) - set(_LIST_PARAMS))
    if unknown:
        raise invalid("parameter_unknown", f"Received unknown parameter: {unknown[0]}.", unknown[0])
    limit = params.get("limit", "10")
    if not str(limit).isdigit() or not 1 <= int(limit) <= LIST_LIMIT:
        raise invalid("invalid_limit", f"limit must be an integer from 1 to {LIST_LIMIT}.", "limit")
    limit = int(limit)
    charges = SandboxCharge.objects.filter(account=account)
    if "customer" in params:
        charges = charges.filter(customer=params["customer"])
    one_second = datetime.timedelta(seconds=1)
    bounds = {
        "created[gte]": lambda t: {"created_at__gte": t},
        "created[gt]": lambda t: {"created_at__gte": t + one_second},
        "created[lte]": lambda t: {"created_at__lt": t + one_second},
        "created[lt]": lambda t: {"created_at__lt": t},
    }
    for name, bound in bounds.items():
        if name in params:
            charges = charges.filter(**bound(_unix_time(params, name)))
    if params.get("starting_after"):
        cursor = SandboxCharge.objects.filter(account=account, public_id=params["starting_after"]).first()
        if cursor is None:
            raise invalid("resource_missing", f"No such charge: {params['starting_after']!r}.", "starting_after")
        charges = charges.filter(
            Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, pk__lt=cursor.pk)
        )
    page = list(charges.order_by("-created_at", "-pk")[: limit + 1])
    data = [
        charge_retrieve(account=account, charge_id=c.public_id)
        if c.settles_at is not None and c.settles_at <= timezone.now()
        else c
        for c in page[:limit]
    ]
    return {"object": "list", "url": path, "has_more": len(page) > limit, "data": [charge_body(c) for c in data]}


@transaction.atomic
def charge_advance(*, account: str, charge_id: str) -> SandboxCharge:
    """Test helper: settle a processing / requires_action charge, or dispute a
    tok_dispute charge, now instead of after the settle delay."""
    charge = _lock_charge(account, charge_id)
    _settle(charge)
    return charge


# --- refunds -------------------------------------------------------------------------


def refund_create(*, account: str, idempotency_key: str, payload: dict) -> ApiResult:
    """Refund all (no amount) or part of a succeeded charge; never more than is left.

    The charge row is locked while the remaining amount is checked and reduced, and a
    database constraint keeps ``amount_refunded`` within ``amount`` whatever happens.
    """
    charge_id = payload.get("charge")
    if not isinstance(charge_id, str) or not charge_id:
        raise invalid("parameter_missing", "Missing required param: charge.", "charge")
    amount = _amount(payload, required=False)
    reason = _string(payload, "reason", 50) or "requested_by_customer"
    if reason not in REFUND_REASONS:
        raise invalid("invalid_reason", f"reason must be one of {', '.join(REFUND_REASONS)}.", "reason")
    metadata = _metadata(payload)
    charge = _lock_charge(account, charge_id)
    if charge.settles_at is not None and charge.settles_at <= timezone.now():
        _settle(charge)
    if "currency" in payload and _currency(payload) != charge.currency:
        raise invalid(
            "currency_mismatch",
            f"Refund currency {payload['currency']!r} differs from the charge's currency {charge.currency}.",
            "currency",
        )
    if charge.status != SandboxCharge.Status.SUCCEEDED:
        raise invalid(
            "charge_not_refundable", f"Charge {charge.public_id} is {charge.status}; only a succeeded charge refunds."
        )
    if charge.disputed:
        raise invalid("charge_disputed", f"Charge {charge.public_id} is disputed; it cannot be refunded.")
    remaining = charge.amount - charge.amount_refunded
    if remaining == 0:
        raise invalid("charge_already_refunded", f"Charge {charge.public_id} has already been refunded in full.")
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise invalid(
            "amount_too_large",
            f"Refund amount ({_money(amount, charge.currency)}) is greater than the amount left to refund on "
            f"charge {charge.public_id} ({_money(remaining, charge.currency)} of "
            f"{_money(charge.amount, charge.currency)} charged).",
            "amount",
        )
    refund = SandboxRefund.objects.create(
        public_id=_new_id("re"),
        account=account,
        charge=charge,
        amount=amount,
        currency=charge.currency,
        status=SandboxRefund.Status.SUCCEEDED,
        reason=reason,
        metadata=metadata,
        idempotency_key=idempotency_key,
    )
    SandboxCharge.objects.filter(pk=charge.pk).update(amount_refunded=F("amount_refunded") + amount)
    return ApiResult(200, refund_body(refund))


def refund_retrieve(*, account: str, refund_id: str) -> SandboxRefund:
    refund = SandboxRefund.objects.select_related("charge").filter(account=account, public_id=refund_id).first()
    if refund is None:
        raise SandboxApiError(404, "invalid_request_error", "resource_missing", f"No such refund: {refund_id!r}.")
    return refund


# --- payment requests ------------------------------------------------------------------


# What a payment request's status is while its latest charge is in each state.
_REQUEST_STATUS = {
    SandboxCharge.Status.SUCCEEDED: "paid",
    SandboxCharge.Status.PROCESSING: "processing",
    SandboxCharge.Status.REQUIRES_ACTION: "requires_action",
    SandboxCharge.Status.FAILED: "requires_payment_method",
}


def payment_request_status(charge: SandboxCharge | None) -> str:
    """Open (``requires_payment_method``) until a charge pays it; open again when that
    charge failed."""
    return "requires_payment_method" if charge is None else _REQUEST_STATUS[charge.status]


def payment_request_body(pr: SandboxPaymentRequest) -> dict:
    return {
        "id": pr.public_id,
        "object": "payment_request",
        "amount": pr.amount,
        "currency": pr.currency,
        "customer": pr.customer,
        "description": pr.description,
        "metadata": pr.metadata,
        "status": pr.status,
        "charge": pr.charge.public_id if pr.charge_id else None,
        "url": f"https://sandbox.invalid/pay/{pr.public_id}",
        "idempotency_key": pr.idempotency_key,
        "created": int(pr.created_at.timestamp()),
    }


def payment_request_create(*, account: str, idempotency_key: str, payload: dict) -> ApiResult:
    """An amount offered to the customer (status ``requires_payment_method``)."""
    pr = SandboxPaymentRequest.objects.create(
        public_id=_new_id("pr"),
        account=account,
        amount=_amount(payload),
        currency=_currency(payload),
        customer=_string(payload, "customer", 200),
        description=_string(payload, "description", 500),
        metadata=_metadata(payload),
        idempotency_key=idempotency_key,
    )
    return ApiResult(200, payment_request_body(pr))


def _no_such_request(request_id: str) -> SandboxApiError:
    return SandboxApiError(
        404, "invalid_request_error", "resource_missing", f"No such payment request: {request_id!r}."
    )


def payment_request_retrieve(*, account: str, request_id: str) -> SandboxPaymentRequest:
    """The request as of now: its charge settles on this read when its time has come
    (and the request's status follows it)."""
    pr = SandboxPaymentRequest.objects.filter(account=account, public_id=request_id).first()
    if pr is None:
        raise _no_such_request(request_id)
    if pr.charge_id is not None:
        charge = SandboxCharge.objects.get(pk=pr.charge_id)
        if charge.settles_at is not None and charge.settles_at <= timezone.now():
            charge_retrieve(account=account, charge_id=charge.public_id)
            pr = SandboxPaymentRequest.objects.select_related("charge").get(pk=pr.pk)
    return pr


@transaction.atomic
def payment_request_pay(*, account: str, request_id: str, payload: dict) -> ApiResult:
    """Test helper: the customer pays the request on its hosted page with the test token
    in ``source``, as a real payment page would. The request's row is locked while it is
    checked and paid, so it is paid at most once.

    The charge is for the request's amount and currency; its metadata is the request's
    plus ``payment_request`` (the request's id). Refused with 409 when the request is
    paid or its charge is still settling or waiting for the customer (no charge is
    made); a declined token answers 402 and leaves the request open.
    """
    source = _source(payload)
    pr = SandboxPaymentRequest.objects.select_for_update().filter(account=account, public_id=request_id).first()
    if pr is None:
        raise _no_such_request(request_id)
    if pr.charge_id is not None:
        current = SandboxCharge.objects.select_for_update().get(pk=pr.charge_id)
        if current.settles_at is not None and current.settles_at <= timezone.now():
            _settle(current)
        if current.status == SandboxCharge.Status.SUCCEEDED:
            raise SandboxApiError(
                409,
                "invalid_request_error",
                "payment_request_paid",
                f"Payment request {pr.public_id} is already paid (charge {current.public_id}); "
                "it cannot be paid again.",
                charge=current.public_id,
            )
        if current.status != SandboxCharge.Status.FAILED:
            raise SandboxApiError(
                409,
                "invalid_request_error",
                "payment_request_in_progress",
                f"Payment request {pr.public_id} has a payment in progress (charge {current.public_id}, "
                f"{current.status}); it cannot be paid again.",
                charge=current.public_id,
            )
    charge, result = _charge(
        account=account,
        amount=pr.amount,
        currency=pr.currency,
        source=source,
        customer=pr.customer,
        description=pr.description,
        metadata={**pr.metadata, "payment_request": pr.public_id},
        idempotency_key=f"{pr.public_id}-pay-{secrets.token_hex(8)}",
    )
    if charge is None:
        return result  # tok_server_error: nothing recorded
    pr.charge = charge
    pr.status = payment_request_status(charge)
    pr.save(update_fields=["charge", "status"])
    if result.status != 200:
        return result  # declined: the 402 with the failed charge; the request stays open
    return ApiResult(200, payment_request_body(pr), delay_seconds=result.delay_seconds)


# --- payment methods (the card form) ----------------------------------------------------

# The card numbers the card form accepts (Stripe's test numbers) → (test token, brand).
TEST_CARDS = {
    "4242424242424242": ("tok_visa", "visa"),
    "5555555555554444": ("tok_mastercard", "mastercard"),
    "4000000000000002": ("tok_visa_declined", "visa"),
    "4000000000009995": ("tok_insufficient_funds", "visa"),
}


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def payment_method_body(method: SandboxPaymentMethod) -> dict:
    return {
        "id": method.public_id,
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": method.brand,
            "last4": method.last4,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
        },
        "customer": method.customer or None,
        "created": int(method.created_at.timestamp()),
    }


@transaction.atomic
def payment_method_create(*, account: str, payload: dict) -> SandboxPaymentMethod:
    """Tokenize a card entered in the card form: ``{"card": {"number", "exp_month",
    "exp_year", "cvc"}}``. Only the sandbox's test card numbers are accepted; the number
    itself is not kept (the method keeps its test token, brand, last four and expiry)."""
    card = payload.get("card")
    if not isinstance(card, dict):
        raise invalid("parameter_missing", "Missing required param: card.", "card")
    number = "".join(ch for ch in str(card.get("number") or "") if not ch.isspace())
    if not number.isdigit() or not 12 <= len(number) <= 19 or not _luhn_ok(number):
        raise SandboxApiError(402, "card_error", "incorrect_number", "Your card number is incorrect.", param="number")
    if number not in TEST_CARDS:
        raise SandboxApiError(
            402,
            "card_error",
            "card_not_supported",
            "The sandbox takes its test cards only (4242 4242 4242 4242, 5555 5555 5555 4444, …).",
            param="number",
        )
    try:
        exp_month, exp_year = int(card.get("exp_month")), int(card.get("exp_year"))
    except (TypeError, ValueError):
        raise SandboxApiError(402, "card_error", "invalid_expiry", "Your card's expiry date is incomplete.") from None
    if exp_year < 100:
        exp_year += 2000
    today = timezone.localdate()
    if not 1 <= exp_month <= 12 or (exp_year, exp_month) < (today.year, today.month) or exp_year > today.year + 50:
        raise SandboxApiError(402, "card_error", "invalid_expiry", "Your card's expiry date is in the past or invalid.")
    cvc = str(card.get("cvc") or "")
    if not cvc.isdigit() or len(cvc) not in (3, 4):
        raise SandboxApiError(402, "card_error", "incorrect_cvc", "Your card's security code is incomplete.")
    token, brand = TEST_CARDS[number]
    return SandboxPaymentMethod.objects.create(
        public_id=_new_id("pm"),
        account=account,
        token=token,
        brand=brand,
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
    )


def payment_method_retrieve(*, account: str, method_id: str) -> SandboxPaymentMethod:
    method = SandboxPaymentMethod.objects.filter(account=account, public_id=method_id).first()
    if method is None:
        raise SandboxApiError(
            404, "invalid_request_error", "resource_missing", f"No such payment method: {method_id!r}."
        )
    return method
