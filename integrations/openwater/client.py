"""An HTTP client for the OpenWater API v2 (httpx).

Headers ``X-ClientKey``, ``X-ApiKey`` and ``X-OrganizationCode`` on every request.
HTTP 429 waits for ``Retry-After`` (capped); 5xx, timeouts and connection errors are
retried with capped exponential backoff and full jitter; any other 4xx is raised at
once. Amounts arrive as JSON numbers: they are parsed as ``Decimal`` straight from
the text (``parse_float=Decimal``), never through a float.
"""

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import httpx


class OpenWaterError(Exception):
    """A request that failed for good; the message is readable by staff."""


class OpenWaterHTTPError(OpenWaterError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenWaterBadResponse(OpenWaterError):
    """The answer is not the JSON the protocol promises."""


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
        from django.conf import settings

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

    def _page(self, path: str, params: dict) -> dict:
        data = self._get(path, params)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("items"), list)
            or not isinstance(data.get("pagingInfo"), dict)
        ):
            raise OpenWaterBadResponse(f"GET {path}: expected {{pagingInfo, items}}")
        return data


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
