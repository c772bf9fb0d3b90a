"""Reading AR import files, streaming: iMIS AR Importer files (a ``BH`` header line then
``PAY`` lines, comma or tab delimited) and plain CSV files with a header row.

The parser reads the file line by line (bytes), hashes it as it goes, and yields one
``ParsedRow`` per PAY/CSV row, each with the problems found in its own fields; problems
of the file itself (encoding of a line, missing or misplaced header, wrong delimiter,
size) are collected in ``errors``. Nothing here touches the database.

Rules of a field:
- amounts: digits with an optional point and at most two decimals, greater than zero
  ("1,234.50", "12.345", "-5", "" are refused with the reason);
- dates: mm/dd/yy (also mm/dd/yyyy and yyyy-mm-dd); blank means the header's date;
- customer: a party id (digits) or ``*`` followed by a Major Key;
- text fields may not start with = + - @ (a spreadsheet would run them as formulas).
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

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ERRORS_KEPT = 1000

AMOUNT_RE = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
BATCH_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,9}$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAY_FIELDS = ["record type", "batch", "AR", "customer", "date", "invoice number", "amount", "check number"]
PAY_FIELDS += ["payer name", "description"]
BH_FIELDS = ["record type", "batch", "date", "description", "control count", "control amount", "cash account"]
CSV_COLUMNS = {"customer_id", "major_key", "amount", "invoice_number", "check_number", "date", "payer_name"}
CSV_COLUMNS |= {"description"}


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
    if not AMOUNT_RE.match(s):
        return None, f"'{s}' is not an amount (digits with an optional point and two decimals)"
    value = Decimal(s)
    if value <= 0:
        return None, f"'{s}' must be greater than zero"
    return value.quantize(Decimal("0.01")), ""


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
        self._csv_columns: list[str] = []

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def file_error(self, line: int, field_name: str, message: str):
        self.error_total += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(Problem(line, field_name, message))

    # --- reading -----------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, str | None]]:
        """(line number, text) per line; text None when the line is not UTF-8."""
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
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 1].hex().upper()
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
        try:
            row = next(csv.reader([text.replace("\r", " ").replace("\x00", "")], delimiter=self.delimiter))
            return row or [""]
        except (csv.Error, StopIteration):  # e.g. an unbalanced quote: one field, reported by the caller
            return [text]

    def rows(self) -> Iterator[ParsedRow]:
        first_seen = False
        for number, text in self._lines():
            if text is None:
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
            if self.format == ARFileFormat.CSV:
                yield self._csv_row(number, text)
            elif self.format == ARFileFormat.IMIS:
                row = self._imis_line(number, text)
                if row is not None:
                    yield row
        if not first_seen and not self.too_big and not self.errors:
            self.file_error(0, "", "the file is empty")
        if self.format == ARFileFormat.IMIS and self.header is None and not self.too_big and first_seen:
            self.file_error(1, "record type", "the BH header line is missing: the file must start with a BH line")

    # --- format detection ----------------------------------------------------------------

    def _detect(self, number: int, text: str):
        self.delimiter = "\t" if "\t" in text else ","
        fields = [f.strip() for f in self._split(text)]
        kind = fields[0].upper()
        if kind == "BH":
            self.format = ARFileFormat.IMIS
            self._header(number, fields)
            return
        if kind == "PAY":
            self.format = ARFileFormat.IMIS
            # Parsed as a row below; the header's absence is reported at the end.
            return
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

    def _header(self, number: int, fields: list[str]):
        h = Header(line=number)
        self.header = h
        if len(fields) < 7:
            self.file_error(number, "", f"the BH line has {len(fields)} fields; expected 7 ({', '.join(BH_FIELDS)})")
            fields = fields + [""] * (7 - len(fields))
        elif len(fields) > 7 and any(fields[7:]):
            self.file_error(number, "", f"the BH line has {len(fields)} fields; expected 7 ({', '.join(BH_FIELDS)})")
        batch = fields[1].upper()
        if not batch:
            self.file_error(number, "batch", "the batch number is required")
        elif not BATCH_RE.match(batch):
            self.file_error(
                number, "batch", f"'{fields[1]}' is not a batch number (up to 10 letters, digits, '-' or '_')"
            )
        h.batch_number = batch
        h.date, why = parse_date(fields[2])
        if why:
            self.file_error(number, "date", why)
        h.description = fields[3]
        if len(h.description) > 60:
            self.file_error(number, "description", f"is {len(h.description)} characters; at most 60")
        if problem := formula_problem(h.description):
            self.file_error(number, "description", problem)
        if fields[4]:
            if fields[4].isdigit():
                h.control_count = int(fields[4])
            else:
                self.file_error(number, "control count", f"'{fields[4]}' is not a whole number")
        if fields[5].strip() in ("0", "0.00", "0.0"):
            h.control_amount = Decimal("0.00")
        else:
            h.control_amount, why = parse_amount(fields[5])
            if why:
                self.file_error(number, "control amount", why)
        h.cash_account_code = fields[6]
        if not h.cash_account_code:
            self.file_error(number, "cash account", "the cash account code is required")

    # --- rows ----------------------------------------------------------------------------

    def _imis_line(self, number: int, text: str) -> ParsedRow | None:
        fields = [f.strip() for f in self._split(text)]
        kind = fields[0].upper()
        other = "\t" if self.delimiter == "," else ","
        if kind == "BH":
            if self.header is None:
                self.file_error(number, "record type", "the BH header must be the first line of the file")
            else:
                self.file_error(number, "record type", f"a second BH line (the header is line {self.header.line})")
            return None
        if len(fields) == 1 and other in text:
            used, found = ("commas", "tabs") if self.delimiter == "," else ("tabs", "commas")
            self.file_error(number, "delimiter", f"fields are separated by {found}; this file uses {used}")
            return None
        if kind != "PAY":
            self.file_error(number, "record type", f"'{fields[0][:20]}' is not a PAY line")
            return None
        row = ParsedRow(line=number)
        if text.count('"') % 2:
            row.error("fields", 'a double quote (") is opened and not closed')
            return row
        if len(fields) > 10:
            row.error(
                "fields",
                f"{len(fields)} fields found, expected 10 (an unquoted comma in a name or an amount like 1,234.50?)",
            )
            return row
        if len(fields) < 7:
            row.error("fields", f"{len(fields)} fields found, expected 10 ({', '.join(PAY_FIELDS)})")
            return row
        fields += [""] * (10 - len(fields))
        _, batch, ar, customer, date, invoice, amount, check, name, description = fields
        header_batch = self.header.batch_number if self.header else ""
        row.batch_number = batch.upper() or header_batch
        if batch and header_batch and batch.upper() != header_batch:
            row.error("batch", f"'{batch}' differs from the header's batch {header_batch}")
        if ar.upper() != "AR":
            row.error("AR", f"'{ar}' found; the third field of a PAY line is AR")
        self._common(row, customer, date, invoice, amount, check, name, description)
        return row

    def _csv_row(self, number: int, text: str) -> ParsedRow:
        values = [f.strip() for f in self._split(text)]
        row = ParsedRow(line=number, batch_number=self.csv_batch_number)
        if text.count('"') % 2:
            row.error("fields", 'a double quote (") is opened and not closed')
            return row
        if len(values) > len(self._csv_columns):
            row.error("fields", f"{len(values)} fields found, the header row has {len(self._csv_columns)}")
            return row
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
        )
        return row

    def _common(self, row, customer, date, invoice, amount, check, name, description):
        if not customer:
            row.error("customer", "the customer id (or * and a Major Key) is required")
        elif customer.startswith("*"):
            if len(customer) < 2:
                row.error("customer", "'*' must be followed by a Major Key")
            elif len(customer) > 41:
                row.error("customer", "the Major Key is longer than 40 characters")
        elif not customer.isdigit() or len(customer) > 20:
            row.error("customer", f"'{customer[:30]}' is not a party id (digits) nor * followed by a Major Key")
        row.customer_ref = customer[:60]
        if date:
            row.date, why = parse_date(date)
            if why:
                row.error("date", why)
        else:
            row.date = self.header.date if self.header else self.default_date
        row.invoice_number = invoice[:40]
        if len(invoice) > 20:
            row.error("invoice number", "is longer than 20 characters")
        if self.require_invoice_number and not invoice:
            row.error("invoice number", "is required when auto apply is off")
        row.amount, why = parse_amount(amount)
        if why:
            row.error("amount", why)
        row.check_number = check[:40]
        if len(check) > 20:
            row.error("check number", "is longer than 20 characters")
        row.payer_name = name[:200]
        row.description = description[:200]
        for label, value, limit in (("payer name", name, 100), ("description", description, 60)):
            if problem := formula_problem(value):
                row.error(label, problem)
            elif len(value) > limit:
                row.error(label, f"is {len(value)} characters; at most {limit}")
        if problem := formula_problem(check):
            row.error("check number", problem)


class ARFileFormat:
    IMIS = "imis"
    CSV = "csv"
