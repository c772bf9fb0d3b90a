"""Reading AR import files, streaming: iMIS AR Importer files (a ``BH`` header line then
``PAY`` lines, comma or tab delimited) and plain CSV files with a header row.

The parser reads the file line by line (bytes), hashes it as it goes, and yields one
``ParsedRow`` per PAY/CSV row, each with the problems found in its own fields; problems
of the file itself (encoding of a line, missing or misplaced header, wrong delimiter,
size) are collected in ``errors``. Nothing here touches the database.

Rules of a field:
- amounts: digits with an optional point and at most two decimals, greater than zero
  ("1,234.50", "12.345", "-5", "" are refused with the reason);
- amounts are at most ``MAX_AMOUNT`` (what the ledger's amount columns hold), and so
  is the header's control amount;
- dates: mm/dd/yy (also mm/dd/yyyy and yyyy-mm-dd); blank means the header's date;
- customer: a party id (digits) or ``*`` followed by a Major Key;
- text fields may not start with = + - @ (a spreadsheet would run them as formulas);
- no field may hold a control character (NUL, a bare carriage return, ESC…; a tab only
  as the delimiter): the field is an error, never read as if the character were not there;
- a line is at most ``MAX_LINE_BYTES`` long (a longer one is a missing line break or
  not a lockbox file) and is reported as such, not parsed.

A PAY line has 10 fields (PAY, batch, AR, customer, date, invoice, amount, check number,
payer name, description) or the 14 of the iMIS AR Importer documentation, which has four
card fields (number, expiry, name on card, authorization) between the check number and
the payer name; this importer records checks, so those four must be blank.
"""

import csv
import datetime
import functools
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from finance.money import CENT, DECIMAL_PLACES, MAX_DIGITS

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ERRORS_KEPT = 1000
# A PAY line of the longest fields is about 400 bytes; ten times that is a line break missing.
MAX_LINE_BYTES = 4096
# The largest amount the ledger's amount columns (MoneyField) hold.
MAX_AMOUNT = Decimal(10 ** (MAX_DIGITS - DECIMAL_PLACES)) - CENT
CASH_ACCOUNT_MAX = 40  # an entity code, ":" and a GL account code

AMOUNT_RE = re.compile(r"^\d+(\.\d{1,2})?$")
# Control characters (C0, DEL, C1); a tab is one too, except as the delimiter.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_NOT_TAB_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
CONTROL_NAMES = {0x00: "NUL", 0x09: "a tab", 0x0A: "a line feed", 0x0D: "a carriage return", 0x1B: "ESC", 0x7F: "DEL"}
# What the csv module reads otherwise than a plain split on the delimiter.
_CSV_SPECIAL = re.compile(r'["\r\n\x00]')
CR_STANDIN = "\ue000"  # a carriage return while a line is split (the csv module refuses a bare one)
BATCH_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,9}$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAY_FIELDS = ["record type", "batch", "AR", "customer", "date", "invoice number", "amount", "check number"]
CARD_FIELDS = ["card number", "card expiry", "name on card", "card authorization"]
PAY_FIELDS_IMIS = PAY_FIELDS + CARD_FIELDS + ["payer name", "description"]  # the documented 14
PAY_FIELDS += ["payer name", "description"]
BH_FIELDS = ["record type", "batch", "date", "description", "control count", "control amount", "cash account"]
CSV_COLUMNS = {"customer_id", "major_key", "amount", "invoice_number", "check_number", "date", "payer_name"}
CSV_COLUMNS |= {"description"}
CSV_LABELS = {"customer_id": "customer", "major_key": "customer", "invoice_number": "invoice number"}
CSV_LABELS |= {"check_number": "check number", "payer_name": "payer name"}


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str

    def __str__(self):
        where = f"Line {self.line}" if self.line else "File"
        return f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class Header:
    line: int
    batch_number: str = ""
    date: datetime.date | None = None
    description: str = ""
    control_count: int | None = None
    control_amount: Decimal | None = None
    cash_account_code: str = ""


@dataclass
class ParsedRow:
    line: int
    batch_number: str = ""
    customer_ref: str = ""
    date: datetime.date | None = None
    invoice_number: str = ""
    amount: Decimal | None = None
    check_number: str = ""
    payer_name: str = ""
    description: str = ""
    errors: list[str] = field(default_factory=list)  # "field: message"
    warnings: list[str] = field(default_factory=list)

    def error(self, field_name: str, message: str):
        self.errors.append(f"{field_name}: {message}")


def parse_amount(raw: str) -> tuple[Decimal | None, str]:
    """(amount, "") or (None, why not)."""
    s = raw.strip()
    if AMOUNT_RE.match(s):  # the usual case, checked first: none of the refusals below but the range
        return _amount_in_range(s)
    if not s:
        return None, "is required"
    if s.startswith("-") or (s.startswith("(") and s.endswith(")")):
        return None, f"'{s}' is negative; only amounts greater than zero can be imported"
    if "," in s:
        fixed = s.replace(",", "")
        hint = f"; write it as {fixed}" if AMOUNT_RE.match(fixed) else ""
        return None, f"'{s}' has a thousands separator or decimal comma{hint}"
    if re.fullmatch(r"\d+\.\d{3,}", s):
        return None, f"'{s}' has more than two decimal places"
    return None, f"'{s}' is not an amount (digits with an optional point and two decimals)"


def _amount_in_range(s: str) -> tuple[Decimal | None, str]:
    """An amount written as ``AMOUNT_RE`` says, if it is greater than zero and fits."""
    value = Decimal(s)
    if value <= 0:
        return None, f"'{s}' must be greater than zero"
    if value > MAX_AMOUNT:
        shown = s if len(s) <= 30 else s[:27] + "..."
        return None, f"'{shown}' is more than {MAX_AMOUNT}, the largest amount the ledger holds"
    return value.quantize(CENT), ""


@functools.lru_cache(maxsize=4096)
def parse_date(raw: str) -> tuple[datetime.date | None, str]:
    """(date, "") or (None, why not). Cached: a lockbox file repeats a few dates."""
    s = raw.strip()
    for fmt in ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(s, fmt).date(), ""
        except ValueError:
            continue
    return None, f"'{s}' is not a date (mm/dd/yy)"


def formula_problem(value: str) -> str:
    if value and value.startswith(FORMULA_START):
        shown = {"\t": "a tab", "\r": "a carriage return"}.get(value[0], f"'{value[0]}'")
        return f"starts with {shown}, which a spreadsheet would run as a formula; remove it"
    return ""


def control_problem(value: str, pattern=CONTROL_RE) -> str:
    """Why ``value`` is refused for holding a control character, or ""."""
    found = pattern.search(value)
    if found is None:
        return ""
    code = ord(found.group())
    name = CONTROL_NAMES.get(code, "a control character")
    return f"contains {name} (0x{code:02X}) at character {found.start() + 1}; remove it"


def visible(value: str) -> str:
    """``value`` with its control characters shown as U+FFFD (safe to store and print)."""
    return CONTROL_RE.sub("\ufffd", value)


def _size_of(fileobj) -> int | None:
    """The file's size without reading it, when it can tell (uploads, real files, buffers)."""
    size = getattr(fileobj, "size", None)
    if size is not None:
        return size
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    try:
        here = fileobj.tell()
        end = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(here)
        return end - here
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


class ARFileParser:
    """Stream an AR import file. Use: ``p = ARFileParser(f); for row in p.rows(): ...``;
    after the loop ``p.header``, ``p.format``, ``p.errors``, ``p.sha256`` and ``p.size``
    are complete. ``f`` is a binary file object; ``default_date`` and ``batch_number``
    stand in for the header with plain CSV files.
    """

    def __init__(
        self,
        fileobj,
        *,
        default_date: datetime.date | None = None,
        batch_number: str = "",
        cash_account_code: str = "",
        require_invoice_number: bool = False,
        max_bytes: int = MAX_FILE_BYTES,
    ):
        self.fileobj = fileobj
        self.default_date = default_date
        self.csv_batch_number = batch_number.strip().upper()
        self.csv_cash_account_code = cash_account_code.strip()
        self.require_invoice_number = require_invoice_number
        self.max_bytes = max_bytes
        self.header: Header | None = None
        self.format = ""
        self.delimiter = ","
        self.errors: list[Problem] = []
        self.error_total = 0
        self.warnings: list[Problem] = []
        self._hash = hashlib.sha256()
        self.size = 0
        self.too_big = False
        # Lines that could not be read (too long, not UTF-8): the control totals are not
        # compared while there are any (their rows are unknown).
        self.unreadable = 0
        self.rows_read = 0
        self._csv_columns: list[str] = []
        self._control = CONTROL_RE

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def file_error(self, line: int, field_name: str, message: str):
        self.error_total += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(Problem(line, field_name, message))

    # --- reading -----------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, str | None]]:
        """(line number, text) per line; text None when the line cannot be read (not
        UTF-8, or longer than MAX_LINE_BYTES)."""
        size_hint = _size_of(self.fileobj)
        if size_hint is not None and size_hint > self.max_bytes:
            self.too_big = True
            self.size = size_hint
            self.file_error(0, "", self._too_big_message(size_hint))
            return
        for number, raw in enumerate(self.fileobj, start=1):
            self._hash.update(raw)
            self.size += len(raw)
            if self.size > self.max_bytes:
                self.too_big = True
                self.file_error(0, "", self._too_big_message(self.size, more=True))
                return
            if number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                self.file_error(1, "", "the file is UTF-16 text (Excel's 'Unicode text'); save it as UTF-8 CSV")
                return
            if len(raw) > MAX_LINE_BYTES and (length := len(raw.rstrip(b"\r\n"))) > MAX_LINE_BYTES:
                self.unreadable += 1
                self.file_error(
                    number,
                    "",
                    f"the line is {length:,} bytes long; a line may be at most "
                    f"{MAX_LINE_BYTES:,} bytes (a missing line break?); it was not read",
                )
                yield number, None
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 1].hex().upper()
                self.unreadable += 1
                self.file_error(
                    number,
                    "",
                    f"is not UTF-8 text (byte 0x{bad} at column {exc.start + 1}; the file looks like Latin-1 or "
                    "Windows-1252): save the file as UTF-8 and upload it again",
                )
                yield number, None
                continue
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]  # UTF-8 byte order mark, as Excel writes it
            yield number, text.rstrip("\r\n")

    def _too_big_message(self, size: int, more: bool = False) -> str:
        mb = self.max_bytes / (1024 * 1024)
        shown = f"more than {mb:g} MB" if more else f"{size / (1024 * 1024):.1f} MB"
        return f"the file is {shown}; the limit is {mb:g} MB: split it into smaller files"

    def _split(self, text: str) -> list[str]:
        """The line's fields as written (not stripped; control characters kept, to be
        reported by the caller)."""
        if not _CSV_SPECIAL.search(text):  # no quote, CR, LF nor NUL: csv would split it as str.split does
            return text.split(self.delimiter)
        cr = "\r" in text
        if cr:
            text = text.replace("\r", CR_STANDIN)
        try:
            row = next(csv.reader([text], delimiter=self.delimiter)) or [""]
        except (csv.Error, StopIteration):  # e.g. an unbalanced quote: one field, reported by the caller
            row = [text]
        return [f.replace(CR_STANDIN, "\r") for f in row] if cr else row

    def _fields(self, text: str, labels: list[str], labels14: list[str] | None = None) -> tuple[list[str], dict]:
        """The stripped fields of a line, and {label: problem} for the fields that hold a
        control character (those fields are returned with it shown as U+FFFD). ``labels``
        names the fields by position (``labels14`` when there are 14); fields past them
        are named "field n"."""
        raw = self._split(text)
        if self._control.search(text) is None:  # the usual case: one search per line
            return [f.strip() for f in raw], {}
        if labels14 is not None and len(raw) == 14:
            labels = labels14
        bad: dict[str, str] = {}
        fields = []
        for i, value in enumerate(raw):
            if problem := control_problem(value, self._control):
                label = labels[i] if i < len(labels) else f"field {i + 1}"
                bad.setdefault(label, problem)
                value = visible(value)
            fields.append(value.strip())
        return fields, bad

    def rows(self) -> Iterator[ParsedRow]:
        first_seen = False
        body_lines = 0  # non-blank lines after the header
        for number, text in self._lines():
            if text is None:
                body_lines += first_seen
                if not first_seen:
                    first_seen = True
                    self.format = self.format or ARFileFormat.IMIS
                continue
            if not text.strip():
                continue  # blank lines (trailing ones included) carry nothing
            if not first_seen:
                first_seen = True
                self._detect(number, text)
                if self.format == ARFileFormat.CSV or self.header is not None or self.format == "":
                    continue
            body_lines += 1
            row: ParsedRow | None
            if self.format == ARFileFormat.CSV:
                row = self._csv_row(number, text)
            elif self.format == ARFileFormat.IMIS:
                row = self._imis_line(number, text)
            else:
                row = None
            if row is not None:
                self.rows_read += 1
                yield row
        if not first_seen and not self.too_big and not self.errors:
            self.file_error(0, "", "the file is empty")
        if self.format == ARFileFormat.IMIS and self.header is None and not self.too_big and first_seen:
            self.file_error(1, "record type", "the BH header line is missing: the file must start with a BH line")
        if first_seen and self.format and not body_lines and not self.too_big:
            after = "the BH header line" if self.format == ARFileFormat.IMIS else "the header row"
            what = "PAY line" if self.format == ARFileFormat.IMIS else "row"
            self.file_error(0, "", f"no payments in the file: {after} is followed by no {what}")

    # --- format detection ----------------------------------------------------------------

    def _detect(self, number: int, text: str):
        self.delimiter = "\t" if "\t" in text else ","
        self._control = CONTROL_NOT_TAB_RE if self.delimiter == "\t" else CONTROL_RE
        fields, bad = self._fields(text, BH_FIELDS)
        kind = fields[0].upper()
        if kind == "BH":
            self.format = ARFileFormat.IMIS
            self._header(number, fields, bad)
            return
        if kind == "PAY":
            self.format = ARFileFormat.IMIS
            # Parsed as a row below; the header's absence is reported at the end.
            return
        for problem in bad.values():  # a CSV header row, or nothing known
            self.file_error(number, "header", problem)
            break
        columns = [re.sub(r"\s+", "_", f.lower()) for f in fields]
        if "amount" in columns and ("customer_id" in columns or "major_key" in columns):
            self.format = ARFileFormat.CSV
            self._csv_columns = columns
            unknown = [c for c in columns if c and c not in CSV_COLUMNS]
            if unknown:
                self.warnings.append(Problem(number, "header", f"columns ignored: {', '.join(unknown)}"))
            return
        for sep, name in ((";", "semicolons"), ("|", "vertical bars")):
            if sep in text and len(fields) == 1:
                self.file_error(
                    number,
                    "delimiter",
                    f"fields are separated by {name}; AR import files use commas or tabs",
                )
                return
        self.file_error(
            number,
            "record type",
            f"'{fields[0][:20]}' is not a BH header nor a CSV header row (customer_id or major_key, amount, ...)",
        )

    def _header(self, number: int, fields: list[str], bad: dict[str, str]):
        h = Header(line=number)
        self.header = h
        for label, problem in bad.items():
            self.file_error(number, label, problem)
        if len(fields) < 7:
            self.file_error(number, "", f"the BH line has {len(fields)} fields; expected 7 ({', '.join(BH_FIELDS)})")
            fields = fields + [""] * (7 - len(fields))
        elif len(fields) > 7 and any(fields[7:]):
            self.file_error(number, "", f"the BH line has {len(fields)} fields; expected 7 ({', '.join(BH_FIELDS)})")
        h.batch_number = fields[1].upper()[:20]
        h.description = fields[3][:200]
        h.cash_account_code = fields[6][:CASH_ACCOUNT_MAX]
        checks = {
            "batch": self._header_batch,
            "date": self._header_date,
            "description": self._header_description,
            "control count": self._header_count,
            "control amount": self._header_amount,
            "cash account": self._header_cash_account,
        }
        for label, check in checks.items():
            if label not in bad:  # a field with a bad character was reported above
                check(number, h, fields)

    def _header_batch(self, number: int, h: Header, fields: list[str]):
        batch = fields[1].upper()
        if not batch:
            self.file_error(number, "batch", "the batch number is required")
        elif not BATCH_RE.match(batch):
            self.file_error(
                number, "batch", f"'{fields[1][:30]}' is not a batch number (up to 10 letters, digits, '-' or '_')"
            )

    def _header_date(self, number: int, h: Header, fields: list[str]):
        h.date, why = parse_date(fields[2])
        if why:
            self.file_error(number, "date", why)

    def _header_description(self, number: int, h: Header, fields: list[str]):
        if len(fields[3]) > 60:
            self.file_error(number, "description", f"is {len(fields[3])} characters; at most 60")
        elif problem := formula_problem(h.description):
            self.file_error(number, "description", problem)

    def _header_count(self, number: int, h: Header, fields: list[str]):
        if not fields[4]:
            return
        if fields[4].isascii() and fields[4].isdigit() and len(fields[4]) <= 9:
            h.control_count = int(fields[4])
        else:
            self.file_error(number, "control count", f"'{fields[4][:30]}' is not a whole number (at most 9 digits)")

    def _header_amount(self, number: int, h: Header, fields: list[str]):
        if fields[5].strip() in ("0", "0.00", "0.0"):
            h.control_amount = Decimal("0.00")
            return
        h.control_amount, why = parse_amount(fields[5])
        if why:
            self.file_error(number, "control amount", why)

    def _header_cash_account(self, number: int, h: Header, fields: list[str]):
        if not fields[6]:
            self.file_error(number, "cash account", "the cash account code is required")
        elif len(fields[6]) > CASH_ACCOUNT_MAX:
            self.file_error(number, "cash account", f"is {len(fields[6])} characters; at most {CASH_ACCOUNT_MAX}")

    # --- rows ----------------------------------------------------------------------------

    def _imis_line(self, number: int, text: str) -> ParsedRow | None:
        fields, bad = self._fields(text, PAY_FIELDS, PAY_FIELDS_IMIS)
        kind = fields[0].upper()
        other = "\t" if self.delimiter == "," else ","
        if len(fields) == 1 and other in text:
            used, found = ("commas", "tabs") if self.delimiter == "," else ("tabs", "commas")
            self.file_error(number, "delimiter", f"fields are separated by {found}; this file uses {used}")
            return None
        if not self._is_pay_line(number, kind, fields, bad):
            return None
        row = ParsedRow(line=number)
        if text.count('"') % 2:
            row.error("fields", 'a double quote (") is opened and not closed')
            return row
        if len(fields) > 10 and len(fields) != 14:
            row.error(
                "fields",
                f"{len(fields)} fields found, expected 10 or 14 (the iMIS layout with the card fields; "
                "an unquoted comma in a name or an amount like 1,234.50?)",
            )
            return row
        if len(fields) < 7:
            row.error("fields", f"{len(fields)} fields found, expected 10 ({', '.join(PAY_FIELDS)})")
            return row
        for label, problem in bad.items():
            row.error(label, problem)
        if len(fields) == 14:
            card = fields[8:12]
            for label, value in zip(CARD_FIELDS, card, strict=True):
                if value and label not in bad:  # never echoed: it may be a card number
                    row.error(label, "card payments are not imported (this importer records checks); leave it blank")
            fields = fields[:8] + fields[12:]
        fields += [""] * (10 - len(fields))
        _, batch, ar, customer, date, invoice, amount, check, name, description = fields
        header_batch = self.header.batch_number if self.header else ""
        row.batch_number = (batch.upper() or header_batch)[:20]
        if "batch" in bad:
            pass
        elif batch and header_batch and batch.upper() != header_batch:
            row.error("batch", f"'{batch[:30]}' differs from the header's batch {header_batch}")
        if "AR" not in bad and ar.upper() != "AR":
            row.error("AR", f"'{ar[:30]}' found; the third field of a PAY line is AR")
        self._common(row, customer, date, invoice, amount, check, name, description, skip=bad)
        return row

    def _is_pay_line(self, number: int, kind: str, fields: list[str], bad: dict[str, str]) -> bool:
        """Whether the line is a PAY line; the file error saying what it is otherwise."""
        if "record type" in bad:
            self.file_error(number, "record type", bad["record type"])
        elif kind == "BH":
            if self.header is None:
                self.file_error(number, "record type", "the BH header must be the first line of the file")
            else:
                self.file_error(number, "record type", f"a second BH line (the header is line {self.header.line})")
        elif kind != "PAY":
            self.file_error(number, "record type", f"'{fields[0][:20]}' is not a PAY line")
        else:
            return True
        return False

    def _csv_row(self, number: int, text: str) -> ParsedRow:
        labels = [CSV_LABELS.get(c, c) for c in self._csv_columns]
        values, bad = self._fields(text, labels)
        row = ParsedRow(line=number, batch_number=self.csv_batch_number)
        if text.count('"') % 2:
            row.error("fields", 'a double quote (") is opened and not closed')
            return row
        if len(values) > len(self._csv_columns):
            row.error("fields", f"{len(values)} fields found, the header row has {len(self._csv_columns)}")
            return row
        for label, problem in bad.items():
            row.error(label, problem)
        data = dict(zip(self._csv_columns, values + [""] * (len(self._csv_columns) - len(values)), strict=True))
        customer = data.get("customer_id", "")
        if not customer and data.get("major_key"):
            customer = "*" + data["major_key"]
        self._common(
            row,
            customer,
            data.get("date", ""),
            data.get("invoice_number", ""),
            data.get("amount", ""),
            data.get("check_number", ""),
            data.get("payer_name", ""),
            data.get("description", ""),
            skip=bad,
        )
        return row

    def _common(self, row, customer, date, invoice, amount, check, name, description, skip=()):
        """Check the fields every format has; ``skip``: labels of fields already reported
        (a control character), not checked again."""
        row.customer_ref = customer[:60]
        row.invoice_number = invoice[:40]
        row.check_number = check[:40]
        row.payer_name = name[:200]
        row.description = description[:200]
        if "customer" not in skip:
            self._row_customer(row, customer)
        if "date" not in skip:
            self._row_date(row, date)
        if "invoice number" not in skip:
            self._row_invoice(row, invoice)
        if "amount" not in skip:
            row.amount, why = parse_amount(amount)
            if why:
                row.error("amount", why)
        if "check number" not in skip:
            if len(check) > 20:
                row.error("check number", "is longer than 20 characters")
            elif problem := formula_problem(check):
                row.error("check number", problem)
        for label, value, limit in (("payer name", name, 100), ("description", description, 60)):
            if label in skip:
                continue
            if problem := formula_problem(value):
                row.error(label, problem)
            elif len(value) > limit:
                row.error(label, f"is {len(value)} characters; at most {limit}")

    def _row_customer(self, row, customer: str):
        if not customer:
            row.error("customer", "the customer id (or * and a Major Key) is required")
        elif customer.startswith("*"):
            if len(customer) < 2:
                row.error("customer", "'*' must be followed by a Major Key")
            elif len(customer) > 41:
                row.error("customer", "the Major Key is longer than 40 characters")
        elif not (customer.isascii() and customer.isdigit()) or len(customer) > 20:
            row.error("customer", f"'{customer[:30]}' is not a party id (digits) nor * followed by a Major Key")

    def _row_date(self, row, date: str):
        if not date:
            row.date = self.header.date if self.header else self.default_date
            return
        row.date, why = parse_date(date)
        if why:
            row.error("date", why)

    def _row_invoice(self, row, invoice: str):
        if len(invoice) > 20:
            row.error("invoice number", "is longer than 20 characters")
        elif self.require_invoice_number and not invoice:
            row.error("invoice number", "is required when auto apply is off")


class ARFileFormat:
    IMIS = "imis"
    CSV = "csv"
