"""The sandbox OpenWater server: the v2 endpoints the pushback client speaks.

Served under /sandbox/openwater/ only when ``OPENWATER_SANDBOX_ENABLED`` is on (it
follows ``SANDBOX_PROCESSOR_ENABLED`` when unset: on in the embedded mode and the
tests, off in production settings). The prefix is outside the login wall, so each
request must carry the sandbox's ``X-ClientKey``, ``X-ApiKey`` and
``X-OrganizationCode``.
"""

import json
import time
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from sandboxes.openwater.store import get_store

DEFAULT_CREDENTIALS = {"client_key": "ow_client_demo", "api_key": "ow_api_demo", "organization_code": "DEMOORG"}
MAX_PAGE_SIZE = 500


def sandbox_enabled() -> bool:
    return bool(getattr(settings, "OPENWATER_SANDBOX_ENABLED", getattr(settings, "SANDBOX_PROCESSOR_ENABLED", False)))


def sandbox_credentials() -> dict:
    return {**DEFAULT_CREDENTIALS, **getattr(settings, "OPENWATER_SANDBOX_CREDENTIALS", {})}


def _default(value):
    if isinstance(value, Decimal):
        return float(value)  # a JSON number, as OpenWater sends it
    raise TypeError(type(value).__name__)


def _json(data, status=200, **headers):
    response = HttpResponse(json.dumps(data, default=_default), status=status, content_type="application/json")
    for k, v in headers.items():
        response[k.replace("_", "-")] = v
    return response


def _error(status, message, **headers):
    return _json({"message": message}, status=status, **headers)


def endpoint(view):
    def wrapped(request, *args, **kwargs):
        if not sandbox_enabled():
            raise Http404("The sandbox OpenWater is not enabled.")
        creds = sandbox_credentials()
        if (
            request.headers.get("X-ClientKey") != creds["client_key"]
            or request.headers.get("X-ApiKey") != creds["api_key"]
            or request.headers.get("X-OrganizationCode") != creds["organization_code"]
        ):
            return _error(401, "Invalid X-ClientKey, X-ApiKey or X-OrganizationCode.")
        store = get_store()
        path = "/" + request.path.split("/sandbox/openwater/", 1)[-1]
        fault = store.take_fault(path)
        if fault is not None:
            if fault.kind == "429":
                return _error(429, "Too many requests.", Retry_After=str(fault.retry_after))
            if fault.kind == "500":
                return _error(500, "Internal server error.")
            if fault.kind == "malformed":
                return HttpResponse('{"pagingInfo": {"pageIndex": 0, "items": [', content_type="application/json")
            if fault.kind == "slow":
                time.sleep(fault.seconds)
        return view(request, store, *args, **kwargs)

    wrapped.__name__ = view.__name__
    return require_GET(wrapped)


def _paged(request, rows):
    try:
        index = int(request.GET.get("pageIndex", 0))
        size = int(request.GET.get("pageSize", 10))
    except ValueError:
        return _error(400, "pageIndex and pageSize must be integers.")
    if index < 0 or not 1 <= size <= MAX_PAGE_SIZE:
        return _error(400, f"pageIndex must be >= 0 and pageSize between 1 and {MAX_PAGE_SIZE}.")
    total = len(rows)
    pages = (total + size - 1) // size
    return _json(
        {
            "pagingInfo": {
                "pageIndex": index,
                "pageSize": size,
                "totalCount": total,
                "numberOfPages": pages,
                "hasPreviousPage": index > 0,
                "hasNextPage": index + 1 < pages,
            },
            "items": rows[index * size : (index + 1) * size],
        }
    )


@endpoint
def programs(request, store):
    return _paged(request, store.program_list())


@endpoint
def invoices(request, store):
    if request.GET.get("isPaid", "true").lower() != "true":
        return _error(400, "The sandbox serves paid invoices only (isPaid=true).")
    since = request.GET.get("mostRecentTransactionSinceUtc")
    try:
        since_dt = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        program_id = int(request.GET["programId"]) if request.GET.get("programId") else None
    except ValueError:
        return _error(400, "mostRecentTransactionSinceUtc must be ISO 8601 and programId an integer.")
    if since_dt is not None and since_dt.tzinfo is None:
        return _error(400, "mostRecentTransactionSinceUtc needs a UTC offset.")
    return _paged(request, store.paid_invoices(since=since_dt, program_id=program_id))


@endpoint
def invoice_detail(request, store, invoice_id: int):
    if store.delay:
        time.sleep(store.delay)
    data = store.detail(invoice_id)
    if data is None:
        return _error(404, f"Invoice {invoice_id} not found.")
    return _json(data)


@endpoint
def user_detail(request, store, user_id: int):
    data = store.user_detail(user_id)
    if data is None:
        return _error(404, f"User {user_id} not found.")
    return _json(data)
