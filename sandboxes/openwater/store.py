"""The sandbox OpenWater's data: programs, users and invoices that are paid and
refunded over time.

Loaded from a data file (``data.json`` beside this module, or
``OPENWATER_SANDBOX_DATA``). Times in the file are minutes relative to the moment the
store is loaded (its epoch): an invoice with ``paidAtMinutes: 12`` shows up as paid 12
minutes after the server starts, a refund with ``atMinutes: 30`` half an hour in. So
the demo has invoices being paid and refunded while it runs.

Answers have the shapes of OpenWater's published API client: the invoice detail names
the applicant billed by ``userId`` (with the invoice's ``thirdPartyCorporateId`` when it
has one) and has no email or name; those are the user's, at ``GET /v2/Users/{id}``
(email, firstName, lastName, thirdPartyUniqueId, ...).

The store lives in the serving process. Tests and the benchmark, which serve it from
their own process, add invoices, refunds and faults through its methods; the faults
(429 with Retry-After, 500, a slow answer, malformed JSON) are consumed one per
matching request. ``requests_to(prefix)`` counts the requests served per path.
"""

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings

DATA_FILE = Path(__file__).with_name("data.json")
CENT = Decimal("0.01")


@dataclass
class Fault:
    path: str  # request path prefix it applies to, e.g. "/v2/Invoices/"
    kind: str  # "429", "500", "slow", "malformed"
    times: int = 1
    retry_after: int = 1
    seconds: float = 0.0  # "slow": how long the answer is held


@dataclass
class Refund:
    id: int
    amount: Decimal
    notes: str
    at: datetime


@dataclass
class SandboxInvoice:
    id: int
    program_id: int
    user_id: int
    created_at: datetime
    paid_at: datetime
    # {id, amount (Decimal; below zero: a coupon, a discount, a manual adjustment), notes,
    # details, targetType ("Coupon" for a coupon), isVat, isManualAdjustment}
    lines: list[dict]
    # {id, amount (Decimal), method, referenceNumber, billingName, isManualAdjustment, ...}
    payments: list[dict]
    refunds: list[Refund] = field(default_factory=list)
    total_billed_override: Decimal | None = None  # to serve totals that do not add up
    # OpenWater's documented invoice detail has no totals; the sandbox adds them unless told not to.
    with_totals: bool = True
    corporate_id: str = ""  # thirdPartyCorporateId: who is billed in the association's system

    def visible_refunds(self, now):
        return [r for r in self.refunds if r.at <= now]

    def most_recent_transaction(self, now) -> datetime:
        return max([self.paid_at] + [r.at for r in self.visible_refunds(now)])


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


class SandboxStore:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset(load=False)

    # -- setup ---------------------------------------------------------------------

    def reset(self, *, load: bool = True, path: Path | None = None, epoch: datetime | None = None):
        with self.lock:
            self.epoch = epoch or datetime.now(UTC).replace(microsecond=0)
            self.programs: dict[int, dict] = {}
            self.users: dict[int, dict] = {}
            self.invoices: dict[int, SandboxInvoice] = {}
            self.faults: list[Fault] = []
            self.delay = 0.0  # seconds added to every invoice detail answer
            self.requests = 0
            self.paths: Counter[str] = Counter()  # requests served per path
            self._ids = 900_000
            if load:
                self.load(path or DATA_FILE)

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def load(self, path: Path):
        data = json.loads(Path(path).read_text(), parse_float=Decimal)
        for p in data.get("programs", []):
            self.add_program(p["id"], p["code"], p["name"], is_archived=p.get("isArchived", False))
        for u in data.get("users", []):
            self.add_user(u["id"], u["email"], f"{u['firstName']} {u['lastName']}", u.get("thirdPartyUniqueId") or "")
        for inv in data.get("invoices", []):
            created = self.epoch + timedelta(minutes=inv.get("createdAtMinutes", inv["paidAtMinutes"] - 60))
            self.add_invoice(
                program_id=inv["programId"],
                user_id=inv["userId"],
                lines=inv["lines"],
                paid_at=self.epoch + timedelta(minutes=inv["paidAtMinutes"]),
                created_at=created,
                invoice_id=inv["id"],
                method=inv.get("method", "CreditCard"),
                corporate_id=inv.get("thirdPartyCorporateId") or "",
            )
            for r in inv.get("refunds", []):
                self.add_refund(
                    inv["id"], r["amount"], at=self.epoch + timedelta(minutes=r["atMinutes"]), notes=r.get("notes", "")
                )

    def add_program(self, program_id: int, code: str, name: str, *, is_archived: bool = False) -> dict:
        with self.lock:
            self.programs[program_id] = {"id": program_id, "code": code, "name": name, "isArchived": is_archived}
            return self.programs[program_id]

    def add_user(self, user_id: int, email: str, name: str, third_party_unique_id: str = "") -> dict:
        """A user (an applicant); ``third_party_unique_id``: the person's id in the
        association's own system (OpenWater's thirdPartyUniqueId)."""
        with self.lock:
            first, _, last = name.partition(" ")
            at = self.epoch.isoformat()
            self.users[user_id] = {
                "id": user_id,
                "email": email,
                "firstName": first,
                "lastName": last,
                "thirdPartyUniqueId": third_party_unique_id or None,
                "externalAuthData": None,
                "isApplicant": True,
                "isJudge": False,
                "isSessionChair": False,
                "createdAtUtc": at,
                "lastModifiedAtUtc": at,
                "lastLoggedInUtc": None,
                "fieldValues": [],
            }
            return self.users[user_id]

    def add_invoice(
        self,
        *,
        program_id: int,
        user_id: int,
        lines: list,
        paid_at: datetime | None = None,
        created_at: datetime | None = None,
        invoice_id: int | None = None,
        method: str = "CreditCard",
        total_billed_override=None,
        payments: list | None = None,
        with_totals: bool = True,
        corporate_id: str = "",
    ) -> SandboxInvoice:
        """``lines``: amounts, or dicts {amount, notes, details, targetType, isVat,
        isManualAdjustment}; an amount below zero is a coupon, a discount or a manual
        adjustment. Paid at ``paid_at`` (default: now) in one payment of the total, or in
        the ``payments`` amounts given; a total of zero (fully discounted) has no payment.
        ``corporate_id``: the invoice's thirdPartyCorporateId (none by default)."""
        with self.lock:
            now = datetime.now(UTC)
            invoice_id = invoice_id or self.next_id()
            items = []
            for line in lines:
                line = line if isinstance(line, dict) else {"amount": line}
                amount = _money(line["amount"])
                items.append(
                    {
                        "id": self.next_id(),
                        "amount": amount,
                        "notes": line.get("notes", "Application fee" if amount >= 0 else "Discount"),
                        "details": line.get("details", ""),
                        "targetType": line.get("targetType", "Submission" if amount >= 0 else "None"),
                        "isVat": bool(line.get("isVat", False)),
                        "isManualAdjustment": bool(line.get("isManualAdjustment", False)),
                    }
                )
            total = sum((i["amount"] for i in items), Decimal("0.00"))
            user = self.users.get(user_id) or {"firstName": "", "lastName": ""}
            amounts = [_money(a) for a in payments] if payments is not None else ([total] if total else [])
            inv = SandboxInvoice(
                id=invoice_id,
                program_id=program_id,
                user_id=user_id,
                created_at=created_at or (paid_at or now) - timedelta(minutes=5),
                paid_at=paid_at or now,
                lines=items,
                payments=[
                    {
                        "id": self.next_id(),
                        "amount": amount,
                        "method": method,
                        "referenceNumber": f"ch_{invoice_id}" + (f"_{n}" if n else ""),
                        "billingName": f"{user['firstName']} {user['lastName']}".strip(),
                        "notes": "",
                        "details": "",
                        "isManualAdjustment": False,
                        "isPromissoryNote": False,
                        "canRefund": True,
                    }
                    for n, amount in enumerate(amounts)
                ],
                total_billed_override=None if total_billed_override is None else _money(total_billed_override),
                with_totals=with_totals,
                corporate_id=corporate_id,
            )
            self.invoices[invoice_id] = inv
            return inv

    def add_refund(self, invoice_id: int, amount, *, at: datetime | None = None, notes: str = "") -> Refund:
        with self.lock:
            refund = Refund(self.next_id(), _money(amount), notes or "Refund", at or datetime.now(UTC))
            self.invoices[invoice_id].refunds.append(refund)
            return refund

    def generate(self, count: int, *, seed: int = 7, programs: int = 3, users: int = 500, paid_from=None):
        """``count`` paid invoices over ``programs`` programs and ``users`` users, paid
        one second apart from ``paid_from`` (default: an hour ago)."""
        rng = random.Random(seed)
        with self.lock:
            prog_ids = []
            for n in range(1, programs + 1):
                pid = 5000 + n
                self.add_program(pid, f"GEN{n}", f"Generated program {n}")
                prog_ids.append(pid)
            user_ids = []
            for n in range(1, users + 1):
                uid = 70_000 + n
                self.add_user(uid, f"applicant{n}@example.org", f"Applicant {n}")
                user_ids.append(uid)
            start = paid_from or datetime.now(UTC) - timedelta(hours=1)
            for n in range(count):
                self.add_invoice(
                    program_id=rng.choice(prog_ids),
                    user_id=rng.choice(user_ids),
                    lines=[Decimal(rng.choice([25, 40, 50, 75, 100])) + Decimal(rng.randrange(0, 100)) / 100],
                    paid_at=start + timedelta(seconds=n),
                )

    # -- faults --------------------------------------------------------------------

    def add_fault(self, path: str, kind: str, *, times: int = 1, retry_after: int = 1, seconds: float = 0.0):
        with self.lock:
            self.faults.append(Fault(path, kind, times, retry_after, seconds))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            self.requests += 1
            self.paths[path] += 1
            for fault in self.faults:
                if path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
            return None

    def requests_to(self, prefix: str) -> int:
        """Requests served so far whose path starts with ``prefix``."""
        with self.lock:
            return sum(n for path, n in self.paths.items() if path.startswith(prefix))

    # -- the protocol's answers ----------------------------------------------------

    def program_list(self) -> list[dict]:
        with self.lock:
            return [dict(p) for _, p in sorted(self.programs.items())]

    def paid_invoices(self, *, since: datetime | None, program_id: int | None) -> list[dict]:
        now = datetime.now(UTC)
        with self.lock:
            rows = []
            for inv in self.invoices.values():
                if inv.paid_at > now or (program_id is not None and inv.program_id != program_id):
                    continue
                recent = inv.most_recent_transaction(now)
                if since is not None and recent < since:
                    continue
                rows.append((recent, inv.id, inv))
            rows.sort(key=lambda r: (r[0], r[1]))
            return [self.summary(inv, recent) for recent, _, inv in rows]

    def summary(self, inv: SandboxInvoice, recent: datetime) -> dict:
        program = self.programs.get(inv.program_id, {})
        data = {
            "id": inv.id,
            "programId": inv.program_id,
            "programCode": program.get("code"),
            "createdAtUtc": inv.created_at.isoformat(),
            "mostRecentTransactionDateUtc": recent.isoformat(),
        }
        if inv.corporate_id:  # left out when it has none, as OpenWater leaves out nulls
            data["thirdPartyCorporateId"] = inv.corporate_id
        return data

    def detail(self, invoice_id: int) -> dict | None:
        now = datetime.now(UTC)
        with self.lock:
            inv = self.invoices.get(invoice_id)
            if inv is None or inv.paid_at > now:
                return None
            refunds = inv.visible_refunds(now)
            billed = sum((li["amount"] for li in inv.lines), Decimal("0.00"))
            paid = sum((p["amount"] for p in inv.payments), Decimal("0.00"))
            data = self.summary(inv, inv.most_recent_transaction(now))
            data.update(
                {
                    "userId": inv.user_id,
                    "billingLineItems": [dict(li) for li in inv.lines],
                    "payments": [dict(p) for p in inv.payments],
                    "refunds": [{"id": r.id, "amount": r.amount, "notes": r.notes, "details": ""} for r in refunds],
                }
            )
            if inv.with_totals:
                data.update(
                    {
                        "totalBilled": inv.total_billed_override if inv.total_billed_override is not None else billed,
                        "totalPaid": paid,
                        "totalRefunded": sum((r.amount for r in refunds), Decimal("0.00")),
                    }
                )
            return data

    def user_detail(self, user_id: int) -> dict | None:
        with self.lock:
            user = self.users.get(user_id)
            return dict(user) if user is not None else None


store = SandboxStore()
_loaded = False


def get_store() -> SandboxStore:
    """The process's store, loaded from the data file on first use."""
    global _loaded
    with store.lock:
        if not _loaded:
            path = getattr(settings, "OPENWATER_SANDBOX_DATA", "") or DATA_FILE
            store.reset(load=True, path=Path(path))
            _loaded = True
    return store


def use_empty_store() -> SandboxStore:
    """Tests and benchmarks: an empty store (no data file), marked loaded."""
    global _loaded
    with store.lock:
        store.reset(load=False)
        _loaded = True
    return store
