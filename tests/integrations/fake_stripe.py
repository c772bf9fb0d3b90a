"""A local HTTP server speaking the subset of Stripe's API the Stripe adapter uses.

Form-encoded requests (``metadata[k]=v``, ``expand[0]=…``, ``created[gte]=…``),
``Authorization: Bearer sk_test_…``, ``Idempotency-Key`` replay (the same key with other
parameters: 400 ``idempotency_error``, as Stripe answers), integer minor units,
Stripe-shaped errors.

Reading PaymentIntents back, as Stripe documents it:

- ``GET /v1/payment_intents`` lists them newest first, filtered by ``customer`` and
  ``created[gte|gt|lte|lt]`` (Unix seconds), ``limit`` 1–100 (default 10), paged with
  ``starting_after`` while ``has_more``; an intent is listed as soon as it exists.
- ``GET /v1/payment_intents/search?query=metadata['idempotency_key']:'…'`` is eventually
  consistent: an intent shows up only ``search_lag`` seconds after it was created
  (Stripe: "less than a minute" normally, longer during incidents).

``GET /v1/payment_methods/{id}`` describes the test cards (brand, last4, expiry).

A PaymentIntent naming a ``customer`` that is not a Stripe customer id (``cus_…``) is
refused, 400 ``resource_missing`` on ``customer``, as Stripe refuses one it does not know.
``POST /v1/customers`` makes one (idempotent on the key, like every POST).

Reusing a card, as Stripe documents it: a PaymentMethod made by a card form
(``new_payment_method``, ``pm_…`` ids of their own, behaving as the test card they stand
for) can be used again only when it is attached to a Customer. A PaymentIntent confirmed
with one that is not attached and was used before is refused (400, "This PaymentMethod
was previously used without being attached to a Customer…"), as is one naming another
customer than the one it is attached to, or none. ``setup_future_usage`` with a
``customer`` attaches it when the intent succeeds; with ``off_session=true`` it is
refused, as Stripe refuses it. ``POST /v1/payment_methods/{id}/attach`` attaches one that
was not used without a customer. The ``pm_card_…`` ids below are Stripe's test shortcuts
(each use is a fresh PaymentMethod), so they are never "used" and never attached.

Saved payment methods decide the outcome:

===========================  =====================================================
``pm_card_visa``             succeeded
``pm_card_chargeDeclined``   402 card_error; the intent is left requires_payment_method
``pm_card_processing``       processing (``advance`` → succeeded)
``pm_card_timeout``          the intent is stored succeeded, the answer is held
                             ``hold_seconds`` (the client times out)
``pm_card_dispute``          succeeded (``advance`` → its charge is disputed)
===========================  =====================================================
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlparse

API_KEY = "sk_test_fake_stripe"


def _nest(pairs: list[tuple[str, str]]) -> dict:
    """``metadata[invoice]=1`` → {"metadata": {"invoice": "1"}}; ``expand[0]`` → list."""
    out: dict = {}
    for key, value in pairs:
        if "[" in key:
            head, rest = key.split("[", 1)
            sub = rest.rstrip("]")
            if sub.isdigit():
                out.setdefault(head, []).append(value)
            else:
                out.setdefault(head, {})[sub] = value
        else:
            out[key] = value
    return out


class FakeStripe:
    def __init__(self, hold_seconds: float = 2.0, search_lag: float = 0.0):
        self.hold_seconds = hold_seconds
        self.search_lag = search_lag
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}
        # Card-form PaymentMethods: id → {"card": the test pm it behaves as, "customer": id
        # or None, "used": used in an intent without being attached}.
        self.methods: dict[str, dict] = {}
        self.idempotency: dict[str, tuple[str, int, dict]] = {}
        self.requests: list[tuple[str, str, dict, str]] = []  # method, path, params, idempotency key
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- objects ------------------------------------------------------------------

    def _charge(self, pi: dict, disputed: bool = False) -> dict:
        return {
            "id": "ch_" + pi["id"][3:],
            "object": "charge",
            "amount": pi["amount"],
            "amount_refunded": pi.get("_refunded", 0),
            "currency": pi["currency"],
            "disputed": disputed,
            "payment_intent": pi["id"],
            "status": "succeeded" if pi["status"] == "succeeded" else "pending",
        }

    def _view(self, pi: dict) -> dict:
        body = {k: v for k, v in pi.items() if not k.startswith("_")}
        body["latest_charge"] = self._charge(pi, pi.get("_disputed", False)) if pi.get("_charged") else None
        return body

    def advance(self, intent_id: str) -> dict:
        """Test helper: settle a processing intent, or dispute a pm_card_dispute one."""
        with self.lock:
            pi = self.intents[intent_id]
            if pi["status"] == "processing":
                pi["status"] = "succeeded"
            elif pi.get("payment_method") == "pm_card_dispute":
                pi["_disputed"] = True
            return self._view(pi)

    # The cards behind the test payment methods (what a Payment Element would make).
    CARDS = {
        "pm_card_visa": ("visa", "4242"),
        "pm_card_mastercard": ("mastercard", "4444"),
        "pm_card_chargeDeclined": ("visa", "0002"),
    }

    def new_payment_method(self, card: str = "pm_card_visa") -> str:
        """Test helper: the PaymentMethod a Payment Element makes for the test card
        ``card`` (``pm_card_visa``, ``pm_card_chargeDeclined``…): single-use until it is
        attached to a customer."""
        pm_id = "pm_" + secrets.token_hex(12)
        with self.lock:
            self.methods[pm_id] = {"card": card, "customer": None, "used": False}
        return pm_id

    def payment_method(self, pm_id: str) -> dict | None:
        """``GET /v1/payment_methods/{id}``: a card payment method, as Stripe shows it."""
        method = self.methods.get(pm_id)
        card_id = method["card"] if method else pm_id
        if card_id not in self.CARDS:
            return None
        brand, last4 = self.CARDS[card_id]
        card = {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "funding": "credit"}
        customer = method["customer"] if method else None
        return {"id": pm_id, "object": "payment_method", "type": "card", "card": card, "customer": customer}

    def _reuse_refused(self, pm_id: str, customer: str | None) -> tuple[int, dict, float] | None:
        """Stripe's refusal of a card-form PaymentMethod that cannot be used here, or None."""
        method = self.methods.get(pm_id)
        if method is None:
            return None
        error = {"type": "invalid_request_error", "param": "payment_method"}
        if method["customer"] is None and method["used"]:
            error["code"] = "payment_method_unexpected_state"
            error["message"] = (
                "This PaymentMethod was previously used without being attached to a Customer or was detached "
                "from a Customer, and may not be used again."
            )
            return 400, {"error": error}, 0
        if method["customer"] is not None and method["customer"] != customer:
            error["code"] = "payment_method_customer_mismatch" if customer else "parameter_missing"
            error["message"] = (
                f"The provided PaymentMethod belongs to a different Customer than {customer!r}."
                if customer
                else "The provided PaymentMethod is attached to a Customer: name that customer."
            )
            return 400, {"error": error}, 0
        return None

    def attach(self, pm_id: str, customer: str) -> tuple[int, dict]:
        """``POST /v1/payment_methods/{id}/attach``."""
        method = self.methods.get(pm_id)
        if method is None:
            if pm_id in self.CARDS:  # a test shortcut: a fresh PaymentMethod each time
                return 200, {"id": pm_id, "object": "payment_method", "customer": customer}
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such"}}
        refused = self._reuse_refused(pm_id, None if method["customer"] is None else customer)
        if refused is not None:
            return refused[0], refused[1]
        method["customer"] = customer
        return 200, self.payment_method(pm_id)

    def intent_by_key(self, key: str) -> list[dict]:
        return [pi for pi in self.intents.values() if pi["metadata"].get("idempotency_key") == key]

    def search(self, key: str) -> list[dict]:
        """What the search index holds: intents older than ``search_lag`` seconds."""
        visible_before = time.time() - self.search_lag
        return [pi for pi in self.intent_by_key(key) if pi["_made_at"] <= visible_before]

    def list_intents(self, params: dict) -> tuple[int, dict]:
        """``GET /v1/payment_intents``: newest first (insertion order breaks ties)."""
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return 400, {"error": {"type": "invalid_request_error", "param": "limit", "message": "Invalid limit"}}
        intents = list(reversed(self.intents.values()))
        if params.get("customer"):
            intents = [pi for pi in intents if pi["customer"] == params["customer"]]
        created = params.get("created", {})
        if isinstance(created, str):
            created = {"eq": created}
        tests = {
            "eq": lambda c, t: c == t,
            "gte": lambda c, t: c >= t,
            "gt": lambda c, t: c > t,
            "lte": lambda c, t: c <= t,
            "lt": lambda c, t: c < t,
        }
        for op, value in created.items():
            intents = [pi for pi in intents if tests[op](pi["created"], int(value))]
        intents.sort(key=lambda pi: pi["created"], reverse=True)  # stable: newest first
        if params.get("starting_after"):
            ids = [pi["id"] for pi in intents]
            if params["starting_after"] not in ids:
                return 400, {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}
            intents = intents[ids.index(params["starting_after"]) + 1 :]
        page = intents[:limit]
        body = {
            "object": "list",
            "url": "/v1/payment_intents",
            "has_more": len(intents) > limit,
            "data": [self._view(pi) for pi in page],
        }
        return 200, body

    # --- endpoints ------------------------------------------------------------------

    def create_intent(self, params: dict) -> tuple[int, dict, float]:
        customer = params.get("customer")
        if customer and not customer.startswith("cus_"):
            # Stripe knows only its own customers (cus_…): anything else is refused.
            message = f"No such customer: '{customer}'"
            error = {"type": "invalid_request_error", "code": "resource_missing", "param": "customer"}
            error["message"] = message
            return 400, {"error": error}, 0
        pm = params.get("payment_method")
        future_usage = params.get("setup_future_usage")
        if future_usage and params.get("off_session") == "true" and params.get("confirm") == "true":
            error = {"type": "invalid_request_error", "param": "off_session"}
            error["message"] = (
                "You cannot confirm with the `off_session` parameter when `setup_future_usage` is also set on the "
                "PaymentIntent because you cannot set up future usages when processing payments off-session."
            )
            return 400, {"error": error}, 0
        if pm and params.get("confirm") == "true":
            refused = self._reuse_refused(pm, customer)
            if refused is not None:
                return refused
        method = self.methods.get(pm) if pm else None
        card = method["card"] if method else pm
        pi_id = "pi_" + secrets.token_hex(12)
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "currency": params["currency"],
            "customer": params.get("customer"),
            "description": params.get("description") or None,
            "metadata": params.get("metadata", {}),
            "payment_method": pm,
            "setup_future_usage": future_usage,
            "status": "requires_payment_method",
            "last_payment_error": None,
            "created": int(time.time()),
            "_made_at": time.time(),
        }
        self.intents[pi_id] = pi
        if params.get("confirm") != "true" or not pm:
            return 200, self._view(pi), 0
        pi["_charged"] = True
        if method is not None and method["customer"] is None:
            # Used now: reusable later only when this intent attaches it to its customer.
            if future_usage and customer and card in ("pm_card_visa", "pm_card_mastercard"):
                method["customer"] = customer
            else:
                method["used"] = True
        if card == "pm_card_chargeDeclined":
            pi["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
            error = {**pi["last_payment_error"], "payment_intent": self._view(pi)}
            return 402, {"error": error}, 0
        if card == "pm_card_processing":
            pi["status"] = "processing"
            return 200, self._view(pi), 0
        if card in ("pm_card_visa", "pm_card_mastercard", "pm_card_timeout", "pm_card_dispute"):
            pi["status"] = "succeeded"
            return 200, self._view(pi), self.hold_seconds if card == "pm_card_timeout" else 0
        return 400, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such PM"}}, 0

    def create_refund(self, params: dict) -> tuple[int, dict, float]:
        pi = self.intents.get(params.get("payment_intent", ""))
        if pi is None or pi["status"] != "succeeded":
            return 400, {"error": {"type": "invalid_request_error", "code": "charge_not_refundable", "message": "x"}}, 0
        amount = int(params.get("amount") or pi["amount"] - pi.get("_refunded", 0))
        if amount > pi["amount"] - pi.get("_refunded", 0):
            return 400, {"error": {"type": "invalid_request_error", "code": "amount_too_large", "message": "x"}}, 0
        pi["_refunded"] = pi.get("_refunded", 0) + amount
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "currency": pi["currency"],
            "payment_intent": pi["id"],
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": params.get("metadata", {}),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund, 0

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(data)

            def _auth(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
                    return False
                return True

            def do_GET(self):
                if not self._auth():
                    return
                url = urlparse(self.path)
                params = _nest(parse_qsl(url.query))
                fake.requests.append(("GET", url.path, params, ""))
                parts = url.path.strip("/").split("/")
                with fake.lock:
                    if parts[:3] == ["v1", "payment_intents", "search"]:
                        query = params.get("query", "")
                        key = query.split(":", 1)[1].strip("'") if ":" in query else ""
                        data = [fake._view(pi) for pi in fake.search(key)]
                        body = {"object": "search_result", "data": data, "has_more": False, "url": url.path}
                        return self._send(200, body)
                    if parts == ["v1", "payment_intents"]:
                        return self._send(*fake.list_intents(params))
                    if parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
                        pi = fake.intents.get(unquote(parts[2]))
                        if pi is None:
                            return self._send(404, {"error": {"type": "invalid_request_error", "message": "No such"}})
                        return self._send(200, fake._view(pi))
                    if parts[:2] == ["v1", "payment_methods"] and len(parts) == 3:
                        pm = fake.payment_method(unquote(parts[2]))
                        if pm is None:
                            return self._send(404, {"error": {"type": "invalid_request_error", "message": "No such"}})
                        return self._send(200, pm)
                    if parts[:2] == ["v1", "refunds"] and len(parts) == 3 and parts[2] in fake.refunds:
                        return self._send(200, fake.refunds[parts[2]])
                self._send(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})

            def do_POST(self):
                if not self._auth():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                params = _nest(parse_qsl(raw))
                key = self.headers.get("Idempotency-Key", "")
                path = urlparse(self.path).path
                fake.requests.append(("POST", path, params, key))
                parts = path.strip("/").split("/")
                delay = 0.0
                with fake.lock:
                    if key and key in fake.idempotency:
                        first_raw, status, body = fake.idempotency[key]
                        if first_raw != path + "?" + raw:
                            status, body = (
                                400,
                                {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests…"}},
                            )
                        return self._send(status, body)
                    if parts == ["v1", "payment_intents"]:
                        status, body, delay = fake.create_intent(params)
                    elif parts == ["v1", "refunds"]:
                        status, body, delay = fake.create_refund(params)
                    elif parts == ["v1", "customers"]:
                        cus = {"id": "cus_" + secrets.token_hex(8), "object": "customer", **params}
                        fake.customers[cus["id"]] = cus
                        status, body = 200, cus
                    elif len(parts) == 4 and parts[:2] == ["v1", "payment_methods"] and parts[3] == "attach":
                        status, body = fake.attach(unquote(parts[2]), params.get("customer", ""))
                    else:
                        status, body = 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized"}}
                    if key and status in (200, 402):
                        fake.idempotency[key] = (path + "?" + raw, status, body)
                if delay:
                    time.sleep(delay)
                self._send(status, body)

        return Handler
