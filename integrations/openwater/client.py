"""An HTTP client for the OpenWater API v2 (httpx).

The calls the pushback makes: ``GET /v2/Programs``, ``GET /v2/Invoices`` (paid, since a
time), ``GET /v2/Invoices/{id}`` (the invoice detail: lines, payments, refunds, the
``userId`` of the applicant who was billed and a ``thirdPartyCorporateId``) and ``GET
/v2/Users/{id}`` (that user: email, first and last name, ``thirdPartyUniqueId``). The
invoice detail carries no email or name; they are the user's.

Headers ``X-ClientKey``, ``X-ApiKey`` and ``X-OrganizationCode`` on every request.
HTTP 429 waits for ``Retry-After`` (capped); 5xx, timeouts and connection errors are
retried with capped exponential backoff and full jitter; any other 4xx is raised at
once. Amounts arrive as JSON numbers: they are parsed as ``Decimal`` straight from
the text (``parse_float=Decimal``), never through a float.
"""

import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import httpx
from django.conf import settings


class OpenWaterError(Exception):
    """A request that failed for good; the message is readable by staff."""


class OpenWaterHTTPError(OpenWaterError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenWaterBadResponse(OpenWaterError):
    """The answer is not the JSON the protocol promises."""


class OpenWaterUserNotFound(OpenWaterHTTPError):
    """``GET /v2/Users/{id}`` answered 404: OpenWater has no such user (any more)."""

    def __init__(self, message: str, user_id: int):
        super().__init__(message, 404)
        self.user_id = user_id


@dataclass
class RetryPolicy:
    attempts: int = 5  # tries in all, the first included
    base_delay: float = 0.5  # seconds; doubled on each retry
    max_delay: float = 30.0  # cap of one wait (also caps Retry-After)
    sleep: object = field(default=time.sleep, repr=False)

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to the capped exponential delay."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


def parse_time(value) -> datetime | None:
    """ISO 8601 with an offset (``Z`` accepted) → aware datetime."""
    if value in (None, ""):
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise OpenWaterBadResponse(f"time {value!r} has no UTC offset")
    return dt


def format_time(dt: datetime) -> str:
    return dt.isoformat()


class OpenWaterClient:
    def __init__(
        self,
        base_url: str,
        *,
        client_key: str,
        api_key: str,
        organization_code: str,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "X-ClientKey": client_key,
                "X-ApiKey": api_key,
                "X-OrganizationCode": organization_code,
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def for_integration(cls, integration, **kwargs) -> "OpenWaterClient":
        kwargs.setdefault("timeout", getattr(settings, "OPENWATER_TIMEOUT", 15.0))
        return cls(
            integration.base_url,
            client_key=integration.client_key,
            api_key=integration.api_key,
            organization_code=integration.organization_code,
            **kwargs,
        )

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport ---------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None):
        policy = self.retry
        last = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.http.get(path, params={k: v for k, v in (params or {}).items() if v is not None})
            except httpx.TimeoutException:
                last = f"GET {path}: no answer within {self.http.timeout.read} s"
            except httpx.TransportError as exc:
                last = f"GET {path}: {exc.__class__.__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429:
                    last = f"GET {path}: HTTP 429 rate limited"
                    if attempt < policy.attempts:
                        policy.sleep(self._retry_after(response, attempt))
                        continue
                    break
                if status >= 500:
                    last = f"GET {path}: HTTP {status} {response.reason_phrase}"
                elif status >= 400:
                    raise OpenWaterHTTPError(f"GET {path}: HTTP {status} {_short(response.text)}", status)
                else:
                    try:
                        return json.loads(response.content, parse_float=Decimal)
                    except ValueError as exc:
                        raise OpenWaterBadResponse(f"GET {path}: the answer is not valid JSON ({exc})") from exc
            if attempt < policy.attempts:
                policy.sleep(policy.backoff(attempt))
        raise OpenWaterHTTPError(f"{last} (gave up after {policy.attempts} tries)")

    def _retry_after(self, response, attempt: int) -> float:
        value = response.headers.get("Retry-After", "")
        try:
            wait = float(value)
        except ValueError:
            wait = self.retry.backoff(attempt)
        return max(0.0, min(wait, self.retry.max_delay))

    # -- API ---------------------------------------------------------------------

    def programs(self) -> list[dict]:
        items, page = [], 0
        while True:
            data = self._page("/v2/Programs", {"pageIndex": page, "pageSize": 100})
            items += data["items"]
            if not data["pagingInfo"].get("hasNextPage"):
                return items
            page += 1

    def paid_invoices_page(
        self, *, since: datetime | None, page_index: int, page_size: int, program_id: int | None = None
    ) -> dict:
        """One page of paid invoices with a transaction at or after ``since``."""
        return self._page(
            "/v2/Invoices",
            {
                "programId": program_id,
                "isPaid": "true",
                "mostRecentTransactionSinceUtc": format_time(since) if since else None,
                "pageIndex": page_index,
                "pageSize": page_size,
            },
        )

    def invoice(self, invoice_id: int) -> dict:
        data = self._get(f"/v2/Invoices/{int(invoice_id)}")
        if not isinstance(data, dict) or "id" not in data:
            raise OpenWaterBadResponse(f"GET /v2/Invoices/{invoice_id}: not an invoice object")
        return data

    def user(self, user_id: int) -> dict:
        """One user (``GET /v2/Users/{id}``): id, email, firstName, lastName,
        thirdPartyUniqueId, ... A 404 raises ``OpenWaterUserNotFound``."""
        user_id = int(user_id)
        path = f"/v2/Users/{user_id}"
        try:
            data = self._get(path)
        except OpenWaterHTTPError as exc:
            if exc.status == 404:
                raise OpenWaterUserNotFound(f"OpenWater user {user_id} not found ({exc})", user_id) from exc
            raise
        if not isinstance(data, dict) or "id" not in data:
            raise OpenWaterBadResponse(f"GET {path}: not a user object")
        try:
            same = int(data["id"]) == user_id
        except (TypeError, ValueError):
            same = False
        if not same:
            raise OpenWaterBadResponse(f"GET {path}: the answer is user {data['id']!r}, not user {user_id}")
        return data

    def _page(self, path: str, params: dict) -> dict:
        data = self._get(path, params)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("items"), list)
            or not isinstance(data.get("pagingInfo"), dict)
        ):
            raise OpenWaterBadResponse(f"GET {path}: expected {{pagingInfo, items}}")
        return data


class UserCache:
    """The OpenWater users of one run, each asked for once (``client.user``).

    Safe to share between threads: the first caller for a user id fetches it while
    the others asking for the same id wait for that answer, so a run that fetches
    invoice details concurrently still makes one request per distinct user. A 404
    (``OpenWaterUserNotFound``) is an answer and is kept for the run; any other
    failure is not kept: the next invoice of that user asks again."""

    def __init__(self, client: "OpenWaterClient"):
        self.client = client
        self._lock = threading.Lock()
        self._entries: dict[int, _CachedUser] = {}

    def get(self, user_id: int) -> dict:
        user_id = int(user_id)
        with self._lock:
            entry = self._entries.get(user_id)
            first = entry is None
            if first:
                entry = self._entries[user_id] = _CachedUser()
        if first:
            try:
                entry.user = self.client.user(user_id)
            except OpenWaterUserNotFound as exc:
                entry.error = exc
            except BaseException as exc:
                entry.error = exc
                with self._lock:
                    del self._entries[user_id]
                raise
            finally:
                entry.done.set()
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error.with_traceback(None)
        return entry.user

    def peek(self, user_id) -> dict | None:
        """The user already fetched for this run, or None (nothing is fetched)."""
        with self._lock:
            entry = self._entries.get(int(user_id))
        if entry is None or not entry.done.is_set() or entry.error is not None:
            return None
        return entry.user


class _CachedUser:
    def __init__(self):
        self.done = threading.Event()
        self.user: dict | None = None
        self.error: BaseException | None = None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
