"""Tables written as files a spreadsheet opens (CSV, XLSX), without letting a cell become a
formula: the project export and the open data share these writers.

A text cell that a spreadsheet would read as a formula (OWASP "CSV injection": a leading `=`,
`+`, `-`, `@`, tab or carriage return, or their full-width forms) is neutralised: in CSV by a
leading apostrophe, in XLSX by Excel's own "quote prefix" on a cell always written as a string.
Dates are real dates, numbers real numbers; nothing is ever written as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import xlsxwriter

Cell = str | int | date | None

# What a spreadsheet reads as the start of a formula (or of a command, for "@" and "-").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel and LibreOffice give a sheet name at most 31 characters, some of them refused.
SHEET_NAME_LENGTH = 31


@dataclass(frozen=True)
class Table:
    """A header and its rows, each row one cell per header column."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]


def dangerous(text: str) -> bool:
    """Whether a spreadsheet would read `text` as a formula."""
    return text.startswith(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """`text` as a CSV cell no spreadsheet evaluates: a leading apostrophe when it is needed."""
    return "'" + text if dangerous(text) else text


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # pragma: no cover - tables hold dates, never times
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise(value)


def csv_chunks(table: Table, *, delimiter: str = ";", bom: bool = True) -> Iterator[str]:
    """The table as CSV text, row by row (CRLF line ends, RFC 4180 quoting). With `bom`, a
    byte order mark first, so that Excel reads the UTF-8 accents; `;` is what a French
    spreadsheet expects between cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow([neutralise(h) for h in table.header])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_bytes(table: Table, *, delimiter: str = ";", bom: bool = True) -> bytes:
    return "".join(csv_chunks(table, delimiter=delimiter, bom=bom)).encode("utf-8")


def _sheet_name(title: str) -> str:
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title).strip(" '")
    return cleaned[:SHEET_NAME_LENGTH] or "Feuille 1"


def xlsx_bytes(table: Table) -> bytes:
    """The table as one XLSX sheet: a bold, frozen header row, text always as strings (never
    converted to formulas, numbers or links), dates as dates (jj/mm/aaaa)."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    as_text = workbook.add_format({"quote_prefix": True})
    as_date = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet = workbook.add_worksheet(_sheet_name(table.title))
    widths = [len(h) for h in table.header]
    for column, title in enumerate(table.header):
        sheet.write_string(0, column, title, bold)
    for number, row in enumerate(table.rows, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, date):
                sheet.write_datetime(
                    number, column, datetime(value.year, value.month, value.day), as_date
                )
                width = 10
            elif isinstance(value, int):
                sheet.write_number(number, column, value)
                width = len(str(value))
            else:
                sheet.write_string(number, column, value, as_text if dangerous(value) else None)
                width = len(value)
            if column < len(widths):
                widths[column] = max(widths[column], min(width, 60))
    for column, width in enumerate(widths):
        sheet.set_column(column, column, width + 2)
    sheet.freeze_panes(1, 0)
    if table.header:
        sheet.autofilter(0, 0, 0, len(table.header) - 1)
    workbook.close()
    return output.getvalue()
