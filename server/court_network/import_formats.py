"""Reading an import file into a header and rows: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or
XLSX (the sheet named, else the first one that is not empty). Cells stay as read (XLSX:
numbers, dates); the importer (server/court_network/importer.py) turns them into values."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from server.http.errors import ApiError

MAX_ROWS = 5000
MAX_COLUMNS = 100
# An XLSX is a ZIP: its parts together may not inflate past this (zip bombs).
MAX_XLSX_UNPACKED = 200 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class Table:
    format: str  # "csv" | "xlsx"
    encoding: str | None  # CSV: "utf-8-sig" | "utf-8" | "gb18030"
    sheet: str | None  # XLSX: the sheet read
    header: list[str]
    # XLSX: every sheet of the workbook in its order, so the reader can pick another
    sheets: list[str] = field(default_factory=list)
    # (line or sheet row number, cells in header order); entirely blank rows are left out
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


def invalid(message: str, code: str = "invalid_file") -> ApiError:
    return ApiError(400, code, message)


def decode(raw: bytes) -> tuple[str, str]:
    """BOM → utf-8-sig; valid UTF-8 → utf-8; anything else is read as GB18030 (a superset of
    GBK and GB2312, what Excel on a Chinese Windows saves as "CSV")."""
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = "gb18030"
    try:
        return raw.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise invalid(
            "无法识别文件编码（须为 UTF-8 或 GBK）/ CSV must be UTF-8 or GBK", "invalid_csv"
        ) from exc


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _check_nul(text: str) -> None:
    if "\x00" in text:
        raise ApiError(400, "invalid_characters", "含有非法字符 / NUL characters are not allowed")


def read_csv(raw: bytes) -> Table:
    text, encoding = decode(raw)
    _check_nul(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise invalid("没有数据行 / no data rows", "invalid_csv")
        table = Table("csv", encoding, None, [h.strip() for h in header])
        if len(table.header) > MAX_COLUMNS:
            raise invalid(f"最多 {MAX_COLUMNS} 列 / at most {MAX_COLUMNS} columns", "invalid_csv")
        for cells in reader:
            if _blank(cells):
                continue
            if len(table.rows) >= MAX_ROWS:
                raise invalid(f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows", "invalid_csv")
            table.rows.append((reader.line_num, list(cells)))
    except csv.Error as exc:
        raise invalid(f"CSV 格式错误 / malformed CSV: {exc}", "invalid_csv") from exc
    return table


def read_xlsx(raw: bytes, sheet: str | None = None) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_XLSX_UNPACKED:
                raise invalid("XLSX 文件过大 / XLSX content too large", "invalid_xlsx")
    except zipfile.BadZipFile as exc:
        raise invalid("不是有效的 XLSX 文件 / not a valid XLSX file", "invalid_xlsx") from exc
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise invalid("不是有效的 XLSX 文件 / not a valid XLSX file", "invalid_xlsx") from exc
    try:
        # Worksheets only: a chart sheet has no cells to read.
        names = [ws.title for ws in wb.worksheets]
        if sheet:
            if sheet not in names:
                raise invalid(
                    f"没有工作表「{sheet}」，可选：{'、'.join(names)}"
                    f" / no sheet named {sheet}; the workbook has: {', '.join(names)}",
                    "invalid_xlsx",
                )
            table = _read_sheet(wb.worksheets[names.index(sheet)], names)
            if not table.header:
                raise invalid(f"工作表「{sheet}」是空的 / sheet {sheet} is empty", "invalid_xlsx")
            return table
        # Unnamed: the first sheet that has a header, past blank ones Excel leaves in front
        # (a new workbook's empty Sheet1 before the pasted data).
        for ws in wb.worksheets:
            table = _read_sheet(ws, names)
            if table.header:
                return table
    finally:
        wb.close()
    raise invalid("没有表头 / the sheet is empty", "invalid_xlsx")


def _read_sheet(ws: Any, names: list[str]) -> Table:
    table = Table("xlsx", None, ws.title, [], sheets=names)
    for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = list(values)
        if not table.header:
            if _blank(cells):
                continue  # leading blank rows before the header
            while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
                cells.pop()
            if len(cells) > MAX_COLUMNS:
                raise invalid(
                    f"最多 {MAX_COLUMNS} 列 / at most {MAX_COLUMNS} columns", "invalid_xlsx"
                )
            table.header = ["" if c is None else str(c).strip() for c in cells]
            continue
        if _blank(cells):
            continue
        if len(table.rows) >= MAX_ROWS:
            raise invalid(f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows", "invalid_xlsx")
        for c in cells:
            if isinstance(c, str):
                _check_nul(c)
        table.rows.append((number, cells))
    return table


def read_table(raw: bytes, sheet: str | None = None) -> Table:
    """CSV or XLSX, told apart by content (an XLSX is a ZIP), never by a name."""
    if not raw:
        raise invalid("文件为空 / empty file", "file_empty")
    if raw.startswith(XLSX_MAGIC):
        return read_xlsx(raw, sheet)
    return read_csv(raw)
