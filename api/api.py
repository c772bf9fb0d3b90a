"""JSON API under /api/v1/ (django-ninja), token auth, OpenAPI schema.

- Auth: ``Authorization: Bearer <key>``. The key is hashed (``ApiToken.hash_key``) and
  looked up by hash; revoked tokens and tokens of inactive users are refused (401), and
  the token's user needs AR/Cash level 1 to read finance data (403 otherwise).
- Reads only, for now: contacts, invoices, payments and batches. Lists are paginated
  with ``limit``/``offset`` and load their related rows in a fixed number of queries.
- Money is a string with two decimals (see ``api.schemas``).
- The schema is at /api/v1/openapi.json and the docs at /api/v1/docs, served from the
  local static files of django-ninja (no CDN).
"""

import functools
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DataError, connection
from django.db.models import Count, Prefetch, Q, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import AuthorizationError, HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import HttpBearer

from api.models import ApiToken
from api.schemas import (
    BatchDetailOut,
    BatchFilter,
    BatchOut,
    ContactDetailOut,
    ContactFilter,
    ContactOut,
    ErrorOut,
    InvoiceDetailOut,
    InvoiceFilter,
    InvoiceOut,
    PaymentDetailOut,
    PaymentFilter,
    PaymentOut,
)
from core.authorization import VIEW_FINANCE, has_level
from finance.membership.api import router as subscriptions_router
from finance.models import Batch, Contact, Invoice, InvoiceLine, Payment, PaymentApplication
from finance.money import ZERO, quantize
from finance.pagination import row_count
from finance.services.batches import batch_totals

# last_used_at is written at most this often per token (one UPDATE, not one per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_PAGE = 500
# Far beyond any table here, and inside PostgreSQL's bigint OFFSET.
MAX_OFFSET = 1_000_000_000


class Page(LimitOffsetPagination):
    """limit/offset paging with both bounded: ``limit`` 1..500 (default 100), ``offset``
    0..1,000,000,000; outside them the answer is 422 naming the parameter.

    ``count`` follows the staff lists' rule (``finance.pagination.row_count``): a
    filtered list is counted exactly; an unfiltered list of a table of more than
    100,000 rows gives the database's row estimate instead of counting every row on
    each call, and says so (``count_is_estimate``)."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=MAX_PAGE, description="Rows per page (at most 500).")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Rows to skip.")

    class Output(Schema):
        items: list[Any]
        count: int = Field(
            description="Rows of the list: exact when filtered; for an unfiltered list of more than"
            " 100,000 rows, the database's estimate (see count_is_estimate)."
        )
        count_is_estimate: bool = Field(
            description="True when count is the database's estimate of a large unfiltered list"
            " (page with offset until a page has fewer than limit items)."
        )

    def paginate_queryset(self, queryset, pagination: Input, request, **params):
        offset = pagination.offset
        limit = min(pagination.limit, self.max_limit)
        count, is_estimate = row_count(queryset)
        return {
            self.items_attribute: queryset[offset : offset + limit],
            "count": count,
            "count_is_estimate": is_estimate,
        }


@functools.cache
def _token_sql() -> tuple[str, list[str], list[str]]:
    """The statement of ``_live_token`` and the two models' field names, made once."""
    user_model = get_user_model()
    token_fields, user_fields = ApiToken._meta.concrete_fields, user_model._meta.concrete_fields
    columns = ", ".join([f"t.{f.column}" for f in token_fields] + [f"u.{f.column}" for f in user_fields])
    sql = (
        f"SELECT {columns} FROM {ApiToken._meta.db_table} t JOIN {user_model._meta.db_table} u ON u.id = t.user_id"
        " WHERE t.key_hash = %s AND NOT t.revoked LIMIT 1"
    )
    return sql, [f.attname for f in token_fields], [f.attname for f in user_fields]


def _live_token(key_hash: str) -> ApiToken | None:
    """The token that is not revoked with this key hash, with its user: every API call
    asks, in one statement written once (not compiled by the ORM per call)."""
    sql, token_names, user_names = _token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token = ApiToken.from_db(connection.alias, token_names, row[: len(token_names)])
    token.user = get_user_model().from_db(connection.alias, user_names, row[len(token_names) :])
    return token


class ApiTokenAuth(HttpBearer):
    """Bearer token checked against the stored SHA-256 hash of the key."""

    def authenticate(self, request, token: str):
        key = token.strip()
        if not key:
            return None
        api_token = _live_token(ApiToken.hash_key(key))
        if api_token is None or not api_token.user.is_active:
            return None
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
        module, level = VIEW_FINANCE
        if not has_level(api_token.user, module, level):
            raise AuthorizationError(message="This token's user may not read finance data (AR/Cash level 1 needed).")
        request.user = api_token.user
        return api_token


# Answers every operation can give besides its own, documented on each of them.
ERROR_BODY = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_BODY = {
    "type": "object",
    "properties": {"detail": {"type": "array", "items": {"type": "object"}}},
    "required": ["detail"],
    "description": "One entry per invalid parameter or field: its location (loc), message (msg) and type.",
}
COMMON_RESPONSES = {
    401: ("No token, or a revoked or unknown one.", ERROR_BODY),
    403: ("The token's user lacks the module level the operation needs.", ERROR_BODY),
}
VALIDATION_RESPONSE = (422, "A parameter or the body is invalid; nothing was changed.", VALIDATION_BODY)


def _json_response(description: str, body: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": body}}}


class PayCentralAPI(NinjaAPI):
    """The API, whose OpenAPI schema documents on every operation the answers that
    django-ninja gives outside the operation's own code: 401 and 403 from the token
    check, 422 when a parameter or the body fails validation."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if operation.get("security"):
                    for status, (description, body) in COMMON_RESPONSES.items():
                        responses.setdefault(status, _json_response(description, body))
                if operation.get("parameters") or operation.get("requestBody"):
                    status, description, body = VALIDATION_RESPONSE
                    responses.setdefault(status, _json_response(description, body))
        return schema


api = PayCentralAPI(
    title="Pay Central API",
    version="1",
    description="Read access to contacts, invoices, payments and batches. Amounts are decimal strings.",
    urls_namespace="api-v1",
    auth=ApiTokenAuth(),
)

NOT_FOUND = {404: ErrorOut}


@api.exception_handler(HttpError)
def http_error(request, exc):
    """django-ninja's own refusals, as it answers them ({"detail": ...}), except a body
    that cannot be parsed: invalid input like any other (422, one entry per problem),
    not a bare 400 that the operations' schemas do not describe."""
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": "The request body is not valid JSON."}]
        return api.create_response(request, {"detail": detail}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(DataError)
def text_with_nul(request, exc):
    """PostgreSQL text cannot hold NUL (0x00) characters: a parameter or field carrying
    one is bad input (422), not a server error. Any other DataError stays a 500."""
    if "NUL (0x00)" not in str(exc):
        raise exc
    detail = [{"type": "string_nul", "loc": ["request"], "msg": "Text may not contain NUL (0x00) characters."}]
    return api.create_response(request, {"detail": detail}, status=422)


# --- Contacts -------------------------------------------------------------------------


# What a list's rows show (``ContactOut``, ``InvoiceOut``, ``PaymentOut``): the rows and
# their related rows are read with these columns only (``test_list_queries_do_not_grow_with_page_size``
# fails when a shown field is left out: each row would read it with a query of its own).
CONTACT_LIST_FIELDS = (
    "party_id", "major_key", "name", "sort_name", "kind", "status", "email", "created_at",
    "company__party_id", "company__name",
)  # fmt: skip


@api.get("/contacts", response=list[ContactOut], tags=["contacts"])
@paginate(Page, max_limit=MAX_PAGE)
def list_contacts(request, filters: Query[ContactFilter]):
    return (
        filters.filter(Contact.objects.select_related("company"))
        .only(*CONTACT_LIST_FIELDS)
        .order_by("sort_name", "name", "pk")
    )


@api.get("/contacts/{party_id}", response={200: ContactDetailOut, **NOT_FOUND}, tags=["contacts"])
def get_contact(request, party_id: str):
    """A contact with the balance of the invoices billed to it.

    ``balance`` is the sum of those invoices' balances (negative when the contact holds
    more credit than it owes); ``open_credit`` is the credit it holds: the sum of the
    negative invoice balances, as a positive amount. ``balances`` splits both per currency.
    """
    contact = get_object_or_404(Contact.objects.select_related("company"), party_id=party_id)
    rows = (
        Invoice.objects.filter(bill_to=contact)
        .values("currency")
        .annotate(
            total_balance=Sum("balance"),
            credit=Sum("balance", filter=Q(balance__lt=0)),
            open_invoices=Count("pk", filter=~Q(balance=0)),
        )
        .order_by("currency")
    )
    balances = [
        {
            "currency": row["currency"],
            "balance": quantize(row["total_balance"] or ZERO),
            "open_credit": -quantize(row["credit"] or ZERO),
            "open_invoices": row["open_invoices"],
        }
        for row in rows
    ]
    contact.balances = balances
    contact.balance = sum((b["balance"] for b in balances), ZERO)
    contact.open_credit = sum((b["open_credit"] for b in balances), ZERO)
    return contact


# --- Invoices -------------------------------------------------------------------------

INVOICE_RELATED = ("bill_to", "sold_to", "entity", "batch")
INVOICE_LIST_FIELDS = (
    "number", "date", "due_date", "type", "source", "accounting_method", "currency", "total", "balance",
    "description", "created_at",
    "bill_to__party_id", "bill_to__name", "sold_to__party_id", "sold_to__name", "entity__code", "batch__number",
)  # fmt: skip


@api.get("/invoices", response=list[InvoiceOut], tags=["invoices"])
@paginate(Page, max_limit=MAX_PAGE)
def list_invoices(request, filters: Query[InvoiceFilter]):
    return (
        filters.filter(Invoice.objects.select_related(*INVOICE_RELATED))
        .only(*INVOICE_LIST_FIELDS)
        .order_by("-date", "-pk")
    )


@api.get("/invoices/{number}", response={200: InvoiceDetailOut, **NOT_FOUND}, tags=["invoices"])
def get_invoice(request, number: str):
    qs = Invoice.objects.select_related(*INVOICE_RELATED, "reversal_of").prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.select_related("product", "account").order_by("line_number")),
        Prefetch("applications", queryset=PaymentApplication.objects.select_related("line").order_by("pk")),
    )
    return get_object_or_404(qs, number=number)


# --- Payments -------------------------------------------------------------------------

PAYMENT_RELATED = ("payer", "method", "entity", "batch")
PAYMENT_LIST_FIELDS = (
    "date", "amount", "amount_applied", "currency", "status", "source", "reference", "reversed_at",
    "reversal_date", "reversal_reason", "created_at",
    "payer__party_id", "payer__name", "method__code", "entity__code", "batch__number",
)  # fmt: skip


@api.get("/payments", response=list[PaymentOut], tags=["payments"])
@paginate(Page, max_limit=MAX_PAGE)
def list_payments(request, filters: Query[PaymentFilter]):
    return (
        filters.filter(Payment.objects.select_related(*PAYMENT_RELATED))
        .only(*PAYMENT_LIST_FIELDS)
        .order_by("-date", "-pk")
    )


@api.get("/payments/{payment_id}", response={200: PaymentDetailOut, **NOT_FOUND}, tags=["payments"])
def get_payment(request, payment_id: int):
    qs = Payment.objects.select_related(*PAYMENT_RELATED).prefetch_related(
        Prefetch("applications", queryset=PaymentApplication.objects.select_related("invoice", "line").order_by("pk"))
    )
    return get_object_or_404(qs, pk=payment_id)


# --- Batches --------------------------------------------------------------------------


@api.get("/batches", response=list[BatchOut], tags=["batches"])
@paginate(Page, max_limit=MAX_PAGE)
def list_batches(request, filters: Query[BatchFilter]):
    return filters.filter(Batch.objects.all()).order_by("-date", "-pk")


@api.get("/batches/{number}", response={200: BatchDetailOut, **NOT_FOUND}, tags=["batches"])
def get_batch(request, number: str):
    """A batch with its control figures against what it actually holds
    (``finance.services.batches.batch_totals``: the figures posting compares)."""
    batch = Batch.objects.filter(number=number).first() or get_object_or_404(Batch, number=number.strip().upper())
    totals = batch_totals(batch)
    batch.actual = totals
    batch.count_difference = None if batch.control_count is None else totals.count - batch.control_count
    batch.amount_difference = None if batch.control_amount is None else totals.amount - batch.control_amount
    return batch


# --- Subscriptions (membership billing) -----------------------------------------------

api.add_router("/subscriptions/", subscriptions_router)
